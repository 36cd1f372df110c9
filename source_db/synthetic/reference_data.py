"""Facts about the real Olist dataset that the synthetic data generator imitates.

Everything here is data, not logic: the 71 product categories with their English names (the
rows of ``product_category_name_translation.csv``), the 27 Brazilian states with the share of
customers and sellers each holds in the real data, a few real cities per state with their zip
prefix range (the CEP ranges of the Correios, rounded) and coordinates, and the shares the
real dataset shows for order statuses, payments, installments, items per order, reviews and
monthly volume. The generator (:mod:`source_db.synthetic.generator`) turns these into rows.

Shares are weights: they need not sum to one, the generator normalises them.
"""

from __future__ import annotations

from dataclasses import dataclass

CATEGORY_TRANSLATIONS: tuple[tuple[str, str], ...] = (
    ("beleza_saude", "health_beauty"),
    ("informatica_acessorios", "computers_accessories"),
    ("automotivo", "auto"),
    ("cama_mesa_banho", "bed_bath_table"),
    ("moveis_decoracao", "furniture_decor"),
    ("esporte_lazer", "sports_leisure"),
    ("perfumaria", "perfumery"),
    ("utilidades_domesticas", "housewares"),
    ("telefonia", "telephony"),
    ("relogios_presentes", "watches_gifts"),
    ("alimentos_bebidas", "food_drink"),
    ("bebes", "baby"),
    ("papelaria", "stationery"),
    ("tablets_impressao_imagem", "tablets_printing_image"),
    ("brinquedos", "toys"),
    ("telefonia_fixa", "fixed_telephony"),
    ("ferramentas_jardim", "garden_tools"),
    ("fashion_bolsas_e_acessorios", "fashion_bags_accessories"),
    ("eletroportateis", "small_appliances"),
    ("consoles_games", "consoles_games"),
    ("audio", "audio"),
    ("fashion_calcados", "fashion_shoes"),
    ("cool_stuff", "cool_stuff"),
    ("malas_acessorios", "luggage_accessories"),
    ("climatizacao", "air_conditioning"),
    ("construcao_ferramentas_construcao", "construction_tools_construction"),
    ("moveis_cozinha_area_de_servico_jantar_e_jardim", "kitchen_dining_laundry_garden_furniture"),
    ("construcao_ferramentas_jardim", "costruction_tools_garden"),
    ("fashion_roupa_masculina", "fashion_male_clothing"),
    ("pet_shop", "pet_shop"),
    ("moveis_escritorio", "office_furniture"),
    ("market_place", "market_place"),
    ("eletronicos", "electronics"),
    ("eletrodomesticos", "home_appliances"),
    ("artigos_de_festas", "party_supplies"),
    ("casa_conforto", "home_confort"),
    ("construcao_ferramentas_ferramentas", "costruction_tools_tools"),
    ("agro_industria_e_comercio", "agro_industry_and_commerce"),
    ("moveis_colchao_e_estofado", "furniture_mattress_and_upholstery"),
    ("livros_tecnicos", "books_technical"),
    ("casa_construcao", "home_construction"),
    ("instrumentos_musicais", "musical_instruments"),
    ("moveis_sala", "furniture_living_room"),
    ("construcao_ferramentas_iluminacao", "construction_tools_lights"),
    ("industria_comercio_e_negocios", "industry_commerce_and_business"),
    ("alimentos", "food"),
    ("artes", "art"),
    ("moveis_quarto", "furniture_bedroom"),
    ("livros_interesse_geral", "books_general_interest"),
    ("construcao_ferramentas_seguranca", "construction_tools_safety"),
    ("fashion_underwear_e_moda_praia", "fashion_underwear_beach"),
    ("fashion_esporte", "fashion_sport"),
    ("sinalizacao_e_seguranca", "signaling_and_security"),
    ("pcs", "computers"),
    ("artigos_de_natal", "christmas_supplies"),
    ("fashion_roupa_feminina", "fashio_female_clothing"),
    ("eletrodomesticos_2", "home_appliances_2"),
    ("livros_importados", "books_imported"),
    ("bebidas", "drinks"),
    ("cine_foto", "cine_photo"),
    ("la_cuisine", "la_cuisine"),
    ("musica", "music"),
    ("casa_conforto_2", "home_comfort_2"),
    ("portateis_casa_forno_e_cafe", "small_appliances_home_oven_and_coffee"),
    ("cds_dvds_musicais", "cds_dvds_musicals"),
    ("dvds_blu_ray", "dvds_blu_ray"),
    ("flores", "flowers"),
    ("artes_e_artesanato", "arts_and_craftmanship"),
    ("fraldas_higiene", "diapers_and_hygiene"),
    ("fashion_roupa_infanto_juvenil", "fashion_childrens_clothes"),
    ("seguros_e_servicos", "security_and_services"),
)
"""The 71 rows of ``product_category_name_translation.csv`` (spelling as published)."""

CATEGORY_ITEM_WEIGHTS: dict[str, int] = {
    # Order items per category in the real data (rounded): a long tail behind five leaders.
    "cama_mesa_banho": 11115,
    "beleza_saude": 9670,
    "esporte_lazer": 8641,
    "moveis_decoracao": 8334,
    "informatica_acessorios": 7827,
    "utilidades_domesticas": 6964,
    "relogios_presentes": 5991,
    "telefonia": 4545,
    "ferramentas_jardim": 4347,
    "automotivo": 4235,
    "brinquedos": 4117,
    "cool_stuff": 3796,
    "perfumaria": 3419,
    "bebes": 3065,
    "eletronicos": 2767,
    "papelaria": 2517,
    "fashion_bolsas_e_acessorios": 2031,
    "pet_shop": 1947,
    "moveis_escritorio": 1691,
    "consoles_games": 1137,
    "malas_acessorios": 1092,
    "construcao_ferramentas_construcao": 929,
    "eletrodomesticos": 771,
    "instrumentos_musicais": 680,
    "eletroportateis": 679,
    "casa_construcao": 604,
    "livros_interesse_geral": 553,
    "alimentos": 510,
    "moveis_sala": 503,
    "casa_conforto": 434,
    "bebidas": 379,
    "audio": 364,
    "market_place": 311,
    "construcao_ferramentas_iluminacao": 304,
    "climatizacao": 297,
    "moveis_cozinha_area_de_servico_jantar_e_jardim": 281,
    "alimentos_bebidas": 278,
    "industria_comercio_e_negocios": 268,
    "livros_tecnicos": 267,
    "telefonia_fixa": 264,
    "fashion_calcados": 262,
    "eletrodomesticos_2": 238,
    "construcao_ferramentas_jardim": 238,
    "agro_industria_e_comercio": 212,
    "artes": 209,
    "pcs": 203,
    "sinalizacao_e_seguranca": 199,
    "construcao_ferramentas_seguranca": 194,
    "artigos_de_natal": 153,
    "fashion_roupa_masculina": 132,
    "fashion_underwear_e_moda_praia": 131,
    "moveis_quarto": 109,
    "construcao_ferramentas_ferramentas": 103,
    "tablets_impressao_imagem": 83,
    "portateis_casa_forno_e_cafe": 76,
    "cine_foto": 72,
    "dvds_blu_ray": 64,
    "livros_importados": 60,
    "fashion_roupa_feminina": 48,
    "artigos_de_festas": 43,
    "fraldas_higiene": 39,
    "moveis_colchao_e_estofado": 38,
    "musica": 38,
    "flores": 33,
    "casa_conforto_2": 30,
    "fashion_esporte": 30,
    "artes_e_artesanato": 24,
    "la_cuisine": 14,
    "cds_dvds_musicais": 14,
    "fashion_roupa_infanto_juvenil": 8,
    "seguros_e_servicos": 2,
}

CATEGORY_PRICE_FACTORS: dict[str, float] = {
    # Median price of a category relative to the overall median (the rest use 1.0).
    "pcs": 12.0,
    "eletrodomesticos_2": 5.0,
    "portateis_casa_forno_e_cafe": 4.0,
    "agro_industria_e_comercio": 3.0,
    "instrumentos_musicais": 2.2,
    "eletroportateis": 2.0,
    "moveis_escritorio": 2.2,
    "climatizacao": 1.6,
    "relogios_presentes": 1.8,
    "telefonia_fixa": 1.5,
    "cool_stuff": 1.5,
    "bebes": 1.3,
    "telefonia": 0.45,
    "papelaria": 0.8,
    "alimentos_bebidas": 0.6,
    "bebidas": 0.7,
    "fashion_bolsas_e_acessorios": 0.8,
    "casa_conforto_2": 0.4,
    "cds_dvds_musicais": 0.7,
    "fashion_roupa_infanto_juvenil": 0.6,
}

UNCATEGORISED_PRODUCT_SHARE = 0.0185
"""Share of products whose category is missing (610 of 32,951 in the real data)."""


@dataclass(frozen=True)
class City:
    """A real city: its name as Olist writes it, its zip prefix range and its coordinates."""

    name: str
    zip_first: int
    zip_last: int
    latitude: float
    longitude: float
    weight: float


@dataclass(frozen=True)
class State:
    """A Brazilian state (UF) with its share of customers and sellers and its delivery time."""

    code: str
    customer_weight: float
    seller_weight: float
    median_delivery_days: float
    cities: tuple[City, ...]


STATES: tuple[State, ...] = (
    # customer_weight: customers per state in the real data (99,441 in all);
    # seller_weight: sellers per state (3,095 in all); median_delivery_days: purchase to delivery.
    State(
        "SP",
        41746,
        1849,
        7.0,
        (
            City("sao paulo", 1000, 5999, -23.55, -46.63, 0.40),
            City("guarulhos", 7000, 7399, -23.46, -46.53, 0.04),
            City("osasco", 6000, 6299, -23.53, -46.79, 0.03),
            City("santo andre", 9000, 9299, -23.66, -46.53, 0.03),
            City("sao bernardo do campo", 9600, 9899, -23.69, -46.56, 0.03),
            City("campinas", 13000, 13139, -22.91, -47.06, 0.06),
            City("santos", 11000, 11099, -23.96, -46.33, 0.03),
            City("sao jose dos campos", 12200, 12248, -23.18, -45.88, 0.03),
            City("ribeirao preto", 14000, 14114, -21.18, -47.81, 0.03),
            City("sorocaba", 18000, 18109, -23.50, -47.46, 0.03),
            City("jundiai", 13200, 13219, -23.19, -46.88, 0.02),
            City("sao jose do rio preto", 15000, 15099, -20.81, -49.38, 0.02),
            City("piracicaba", 13400, 13429, -22.73, -47.65, 0.02),
            City("bauru", 17000, 17069, -22.31, -49.06, 0.02),
        ),
    ),
    State(
        "RJ",
        12852,
        171,
        13.0,
        (
            City("rio de janeiro", 20000, 23799, -22.91, -43.17, 0.55),
            City("niteroi", 24000, 24399, -22.88, -43.10, 0.08),
            City("sao goncalo", 24400, 24799, -22.83, -43.05, 0.06),
            City("duque de caxias", 25000, 25299, -22.79, -43.31, 0.05),
            City("nova iguacu", 26000, 26099, -22.76, -43.45, 0.05),
            City("petropolis", 25600, 25799, -22.51, -43.18, 0.03),
            City("campos dos goytacazes", 28000, 28099, -21.75, -41.32, 0.03),
            City("volta redonda", 27200, 27299, -22.52, -44.10, 0.03),
        ),
    ),
    State(
        "MG",
        11635,
        244,
        10.0,
        (
            City("belo horizonte", 30000, 31999, -19.92, -43.94, 0.25),
            City("contagem", 32000, 32399, -19.93, -44.05, 0.05),
            City("juiz de fora", 36000, 36099, -21.76, -43.35, 0.06),
            City("uberlandia", 38400, 38499, -18.92, -48.28, 0.06),
            City("montes claros", 39400, 39409, -16.73, -43.86, 0.03),
            City("betim", 32600, 32699, -19.97, -44.20, 0.03),
            City("uberaba", 38000, 38099, -19.75, -47.93, 0.03),
            City("divinopolis", 35500, 35509, -20.14, -44.88, 0.02),
        ),
    ),
    State(
        "RS",
        5466,
        129,
        13.0,
        (
            City("porto alegre", 90000, 91999, -30.03, -51.23, 0.30),
            City("caxias do sul", 95000, 95124, -29.17, -51.18, 0.08),
            City("canoas", 92000, 92499, -29.92, -51.18, 0.05),
            City("pelotas", 96000, 96099, -31.77, -52.34, 0.05),
            City("santa maria", 97000, 97119, -29.68, -53.81, 0.05),
            City("novo hamburgo", 93300, 93599, -29.68, -51.13, 0.04),
        ),
    ),
    State(
        "PR",
        5045,
        349,
        10.0,
        (
            City("curitiba", 80000, 82999, -25.43, -49.27, 0.30),
            City("londrina", 86000, 86099, -23.31, -51.16, 0.08),
            City("maringa", 87000, 87099, -23.42, -51.94, 0.07),
            City("ponta grossa", 84000, 84099, -25.09, -50.16, 0.04),
            City("cascavel", 85800, 85829, -24.96, -53.46, 0.04),
            City("foz do iguacu", 85850, 85869, -25.55, -54.59, 0.03),
            City("sao jose dos pinhais", 83000, 83099, -25.53, -49.21, 0.04),
        ),
    ),
    State(
        "SC",
        3637,
        190,
        12.0,
        (
            City("florianopolis", 88000, 88099, -27.60, -48.55, 0.15),
            City("joinville", 89200, 89239, -26.30, -48.85, 0.12),
            City("blumenau", 89000, 89099, -26.92, -49.07, 0.10),
            City("sao jose", 88100, 88123, -27.61, -48.63, 0.06),
            City("itajai", 88300, 88319, -26.91, -48.66, 0.05),
            City("chapeco", 89800, 89816, -27.10, -52.62, 0.05),
            City("criciuma", 88800, 88819, -28.68, -49.37, 0.05),
        ),
    ),
    State(
        "BA",
        3380,
        19,
        16.0,
        (
            City("salvador", 40000, 42599, -12.97, -38.50, 0.40),
            City("feira de santana", 44000, 44099, -12.27, -38.97, 0.07),
            City("vitoria da conquista", 45000, 45099, -14.86, -40.84, 0.05),
            City("camacari", 42800, 42849, -12.70, -38.32, 0.03),
            City("itabuna", 45600, 45609, -14.79, -39.28, 0.03),
            City("lauro de freitas", 42700, 42749, -12.89, -38.33, 0.04),
        ),
    ),
    State(
        "DF",
        2140,
        30,
        11.0,
        (
            City("brasilia", 70000, 71999, -15.79, -47.88, 0.85),
            City("taguatinga", 72000, 72199, -15.83, -48.06, 0.08),
            City("ceilandia", 72200, 72299, -15.82, -48.11, 0.07),
        ),
    ),
    State(
        "ES",
        2033,
        23,
        13.0,
        (
            City("vila velha", 29100, 29129, -20.33, -40.29, 0.22),
            City("vitoria", 29000, 29099, -20.32, -40.34, 0.22),
            City("serra", 29160, 29184, -20.13, -40.31, 0.18),
            City("cariacica", 29140, 29159, -20.26, -40.42, 0.10),
            City("cachoeiro de itapemirim", 29300, 29318, -20.85, -41.11, 0.05),
            City("linhares", 29900, 29914, -19.39, -40.07, 0.04),
        ),
    ),
    State(
        "GO",
        2020,
        40,
        13.0,
        (
            City("goiania", 74000, 74899, -16.68, -49.25, 0.50),
            City("aparecida de goiania", 74900, 74999, -16.82, -49.25, 0.10),
            City("anapolis", 75000, 75159, -16.33, -48.95, 0.08),
            City("rio verde", 75900, 75909, -17.80, -50.93, 0.04),
        ),
    ),
    State(
        "PE",
        1652,
        9,
        15.0,
        (
            City("recife", 50000, 52999, -8.05, -34.88, 0.40),
            City("jaboatao dos guararapes", 54000, 54499, -8.11, -35.01, 0.10),
            City("olinda", 53000, 53199, -8.01, -34.86, 0.06),
            City("caruaru", 55000, 55099, -8.28, -35.98, 0.05),
            City("petrolina", 56300, 56339, -9.39, -40.50, 0.05),
        ),
    ),
    State(
        "CE",
        1336,
        13,
        18.0,
        (
            City("fortaleza", 60000, 61599, -3.73, -38.52, 0.60),
            City("caucaia", 61600, 61699, -3.74, -38.66, 0.05),
            City("juazeiro do norte", 63000, 63099, -7.21, -39.32, 0.05),
            City("sobral", 62000, 62099, -3.69, -40.35, 0.04),
        ),
    ),
    State(
        "PA",
        975,
        1,
        21.0,
        (
            City("belem", 66000, 66999, -1.46, -48.50, 0.45),
            City("ananindeua", 67000, 67199, -1.37, -48.37, 0.10),
            City("santarem", 68000, 68099, -2.44, -54.71, 0.05),
            City("maraba", 68500, 68509, -5.37, -49.12, 0.05),
        ),
    ),
    State(
        "MT",
        907,
        4,
        16.0,
        (
            City("cuiaba", 78000, 78109, -15.60, -56.10, 0.35),
            City("varzea grande", 78110, 78159, -15.65, -56.13, 0.10),
            City("rondonopolis", 78700, 78749, -16.47, -54.64, 0.07),
            City("sinop", 78550, 78559, -11.86, -55.50, 0.06),
        ),
    ),
    State(
        "MA",
        747,
        1,
        19.0,
        (
            City("sao luis", 65000, 65109, -2.53, -44.30, 0.45),
            City("imperatriz", 65900, 65919, -5.53, -47.49, 0.10),
            City("caxias", 65600, 65609, -4.86, -43.36, 0.04),
        ),
    ),
    State(
        "MS",
        715,
        5,
        14.0,
        (
            City("campo grande", 79000, 79124, -20.47, -54.62, 0.55),
            City("dourados", 79800, 79849, -22.22, -54.81, 0.10),
            City("tres lagoas", 79600, 79649, -20.79, -51.70, 0.06),
        ),
    ),
    State(
        "PB",
        536,
        6,
        17.0,
        (
            City("joao pessoa", 58000, 58099, -7.12, -34.86, 0.50),
            City("campina grande", 58400, 58439, -7.23, -35.88, 0.15),
        ),
    ),
    State(
        "PI",
        495,
        1,
        17.0,
        (
            City("teresina", 64000, 64099, -5.09, -42.80, 0.60),
            City("parnaiba", 64200, 64219, -2.90, -41.78, 0.06),
        ),
    ),
    State(
        "RN",
        485,
        5,
        16.0,
        (
            City("natal", 59000, 59139, -5.79, -35.21, 0.50),
            City("mossoro", 59600, 59649, -5.19, -37.34, 0.10),
            City("parnamirim", 59140, 59161, -5.92, -35.26, 0.10),
        ),
    ),
    State(
        "AL",
        413,
        0,
        21.0,
        (
            City("maceio", 57000, 57099, -9.67, -35.74, 0.60),
            City("arapiraca", 57300, 57319, -9.75, -36.66, 0.08),
        ),
    ),
    State(
        "SE",
        350,
        2,
        18.0,
        (
            City("aracaju", 49000, 49099, -10.91, -37.07, 0.60),
            City("nossa senhora do socorro", 49160, 49169, -10.85, -37.13, 0.08),
            City("lagarto", 49400, 49409, -10.92, -37.65, 0.04),
        ),
    ),
    State(
        "TO",
        280,
        0,
        15.0,
        (
            City("palmas", 77000, 77249, -10.18, -48.33, 0.40),
            City("araguaina", 77800, 77829, -7.19, -48.21, 0.15),
            City("gurupi", 77400, 77439, -11.73, -49.07, 0.08),
        ),
    ),
    State(
        "RO",
        253,
        2,
        17.0,
        (
            City("porto velho", 76800, 76834, -8.76, -63.90, 0.40),
            City("ji-parana", 76900, 76914, -10.88, -61.95, 0.12),
            City("ariquemes", 76870, 76889, -9.91, -63.04, 0.08),
        ),
    ),
    State(
        "AM",
        148,
        1,
        24.0,
        (
            City("manaus", 69000, 69099, -3.12, -60.02, 0.85),
            City("parintins", 69150, 69159, -2.63, -56.74, 0.04),
            City("itacoatiara", 69100, 69109, -3.14, -58.44, 0.04),
        ),
    ),
    State(
        "AC",
        81,
        1,
        18.0,
        (
            City("rio branco", 69900, 69924, -9.97, -67.81, 0.80),
            City("cruzeiro do sul", 69980, 69989, -7.63, -72.67, 0.10),
        ),
    ),
    State(
        "AP",
        68,
        0,
        25.0,
        (
            City("macapa", 68900, 68914, 0.03, -51.07, 0.80),
            City("santana", 68925, 68929, -0.06, -51.17, 0.12),
        ),
    ),
    State(
        "RR",
        46,
        0,
        25.0,
        (
            City("boa vista", 69300, 69339, 2.82, -60.67, 0.90),
            City("rorainopolis", 69375, 69379, 0.94, -60.44, 0.05),
        ),
    ),
)
"""The 27 states; each city's zip range lies inside its state's CEP range."""

ORDER_STATUS_WEIGHTS: dict[str, float] = {
    # Orders per status in the real data (99,441 in all).
    "delivered": 96478,
    "shipped": 1107,
    "canceled": 625,
    "unavailable": 609,
    "invoiced": 314,
    "processing": 301,
    "created": 5,
    "approved": 2,
}

ITEMS_PER_ORDER_WEIGHTS: tuple[float, ...] = (88863, 7516, 1322, 505, 204, 198, 22, 8)
"""Orders with 1, 2, ... 8 items (the real tail, up to 21 items, is folded into 8)."""

REPEAT_PRODUCT_SHARE = 0.6
"""Chance that a further item of an order is one more unit of the item before it."""

PRIMARY_PAYMENT_WEIGHTS: dict[str, float] = {
    # How an order is paid; vouchers also appear as extra payments of credit card orders.
    "credit_card": 76.5,
    "boleto": 19.8,
    "voucher": 2.15,
    "debit_card": 1.55,
}
EXTRA_VOUCHER_SHARE = 0.03
"""Share of credit card orders that also use one or more vouchers."""
EXTRA_VOUCHER_COUNT_WEIGHTS: tuple[float, ...] = (70, 20, 10)
"""Credit card orders with 1, 2 or 3 extra vouchers."""
VOUCHER_ONLY_COUNT_WEIGHTS: tuple[float, ...] = (85, 15)
"""Voucher-only orders paid with 1 or 2 vouchers."""

CREDIT_CARD_INSTALLMENT_WEIGHTS: tuple[float, ...] = (
    # Credit card payments with 1, 2, ... 24 installments in the real data.
    25455, 12413, 10461, 7098, 5239, 3920, 1626, 4268, 644, 5328, 23, 133,
    16, 27, 74, 5, 8, 27, 0, 17, 3, 1, 1, 18,
)  # fmt: skip

REVIEW_SCORE_WEIGHTS: tuple[float, ...] = (11.5, 3.2, 8.2, 19.3, 57.8)
"""Reviews with score 1 to 5 over all reviews of the real data."""
LATE_REVIEW_SCORE_WEIGHTS: tuple[float, ...] = (45.0, 8.0, 12.0, 13.0, 22.0)
"""Scores 1 to 5 of orders delivered after the estimated date: late orders draw bad reviews."""
UNDELIVERED_REVIEW_SCORE_WEIGHTS: tuple[float, ...] = (62.0, 9.0, 9.0, 7.0, 13.0)
"""Scores 1 to 5 of orders reviewed without a delivery (shipped, canceled, unavailable)."""
VERY_LATE_REVIEW_SCORE_WEIGHTS: tuple[float, ...] = (70.0, 9.0, 8.0, 5.0, 8.0)
"""Scores 1 to 5 of a customer let down by the delivery (mean 1.72): drawn with the
probability :func:`source_db.synthetic.distributions.let_down_share` gives for the delay."""
LET_DOWN_SHARE_AT_ESTIMATE = 0.04
"""Share of let-down reviews of an order delivered on the estimated day; it falls linearly to 0
for an order a week early or more (early orders are reviewed best in the real data)."""
LET_DOWN_SHARE_FIRST_LATE_DAY = 0.365
LET_DOWN_SHARE_PER_LATE_DAY = 0.065
LET_DOWN_SHARE_MAX = 0.92
"""Let-down share of a late order: 0.365 one day late, 0.065 more per day, at most 0.92 (from
ten days late on). With the on-time scores (mean ~4.22) this gives mean scores of about 3.3
one day late, 2.3 a week late and 1.9 beyond ten days, the fall published analyses of the
real data show (docs/operations/synthetic-data.md#review-scores)."""
LATE_DELIVERY_SHARE = 0.08
"""Share of delivered orders that arrive after the estimated date (about 8% in the data)."""

REVIEW_COMMENTS: dict[int, tuple[str, ...]] = {
    1: (
        "Produto nao chegou ate agora.",
        "Recebi o produto errado, aguardo a troca.",
        "Veio faltando um item do pedido.",
        "Pessimo, nao recomendo esta loja.",
    ),
    2: ("Produto de qualidade inferior ao anunciado.", "Demorou muito para chegar."),
    3: ("Produto ok, mas a entrega atrasou.", "Razoavel pelo preco."),
    4: ("Chegou no prazo, produto bom.", "Gostei, mas a embalagem veio amassada."),
    5: (
        "Produto excelente, chegou antes do prazo.",
        "Otimo vendedor, recomendo.",
        "Tudo certo, muito satisfeito.",
        "Entrega rapida e produto de qualidade.",
    ),
}
"""Short review messages per score (the real ones are free text in Portuguese)."""
REVIEW_TITLES: tuple[str, ...] = ("Recomendo", "Otimo", "Bom", "Nao recomendo", "Super recomendo")
REVIEW_MESSAGE_SHARE = 0.42
REVIEW_TITLE_SHARE = 0.12

MONTHLY_ORDER_WEIGHTS: tuple[tuple[int, int, float], ...] = (
    # (year, month, orders) in the real data: slow start in late 2016, growth through 2017
    # (Black Friday in November), a plateau in 2018 and the tail of the extract in Sept-Oct.
    (2016, 9, 4), (2016, 10, 324), (2016, 11, 2), (2016, 12, 6),
    (2017, 1, 800), (2017, 2, 1780), (2017, 3, 2682), (2017, 4, 2404),
    (2017, 5, 3700), (2017, 6, 3245), (2017, 7, 4026), (2017, 8, 4331),
    (2017, 9, 4285), (2017, 10, 4631), (2017, 11, 7544), (2017, 12, 5673),
    (2018, 1, 7269), (2018, 2, 6728), (2018, 3, 7211), (2018, 4, 6939),
    (2018, 5, 6873), (2018, 6, 6167), (2018, 7, 6292), (2018, 8, 6512),
    (2018, 9, 16), (2018, 10, 4),
)  # fmt: skip

HOUR_OF_DAY_WEIGHTS: tuple[float, ...] = (
    # Orders placed in each hour of the day (0h to 23h): quiet nights, busy afternoons.
    2394, 1170, 510, 272, 206, 188, 502, 1231, 3000, 4785, 6177, 6578,
    5995, 6518, 6569, 6454, 6675, 6150, 5769, 5982, 6193, 6217, 5816, 4123,
)  # fmt: skip

PRODUCTS_PER_ORDER = 0.33
"""Distinct products per order (32,951 products for 99,441 orders)."""
SELLERS_PER_ORDER = 0.031
"""Distinct sellers per order (3,095 sellers for 99,441 orders)."""
RETURNING_CUSTOMER_SHARE = 0.031
"""Share of orders placed by a person who ordered before (same customer_unique_id)."""
