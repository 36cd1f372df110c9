"""The catalogue: sellers and the products they sell, drawn with their rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from source_db.synthetic.distributions import (
    CATEGORY_CDF,
    CATEGORY_NAMES,
    CATEGORY_PRICE_FACTOR,
    GEOGRAPHY,
    draw,
    lognormal,
    to_cdf,
)
from source_db.synthetic.geolocation import ZipRegistry
from source_db.synthetic.tables import TABLE_COLUMNS, Rows
from source_db.synthetic.values import nullable, random_ids, zip_prefixes


@dataclass
class Catalogue:
    """Products on sale and their sellers, as the order builder needs them."""

    product_ids: np.ndarray  # object array of ids
    product_seller: np.ndarray  # index into seller_ids
    product_price_cents: np.ndarray
    product_weight_g: np.ndarray
    product_cdf: np.ndarray  # popularity of each product
    seller_ids: np.ndarray  # object array of ids
    seller_state: np.ndarray  # index into reference_data.STATES

    @property
    def size(self) -> int:
        return len(self.product_ids)


def build_catalogue(
    rng: np.random.Generator, *, products: int, sellers: int, zips: ZipRegistry
) -> tuple[Catalogue, Rows]:
    """Draw ``sellers`` sellers and ``products`` products; return them and their rows."""
    seller_city = draw(rng, GEOGRAPHY.seller_city_cdf, sellers)
    seller_zip = rng.integers(GEOGRAPHY.zip_first[seller_city], GEOGRAPHY.zip_last[seller_city] + 1)
    seller_ids = random_ids(rng, sellers)
    seller_state = GEOGRAPHY.city_state[seller_city]
    # A few sellers make most sales: heavy-tailed popularity.
    seller_cdf = to_cdf(rng.lognormal(0.0, 1.6, sellers))

    category = draw(rng, CATEGORY_CDF, products)
    has_category = category < len(CATEGORY_NAMES)
    product_ids = random_ids(rng, products)
    product_seller = draw(rng, seller_cdf, products)
    price_cents = np.clip(
        np.round(lognormal(rng, 6800.0 * CATEGORY_PRICE_FACTOR[category], 0.8, products)),
        85,
        673_500,
    ).astype(np.int64)
    weight = np.clip(np.round(lognormal(rng, 700.0, 1.2, products)), 50, 40_425).astype(np.int64)
    length = np.clip(np.round(lognormal(rng, 25.0, 0.5, products)), 7, 105).astype(np.int64)
    height = np.clip(np.round(lognormal(rng, 13.0, 0.7, products)), 2, 105).astype(np.int64)
    width = np.clip(np.round(lognormal(rng, 20.0, 0.5, products)), 6, 118).astype(np.int64)
    name_length = np.clip(np.round(rng.normal(48.0, 10.0, products)), 5, 76).astype(np.int64)
    description_length = np.clip(np.round(lognormal(rng, 600.0, 0.8, products)), 4, 3992).astype(
        np.int64
    )
    photos = np.minimum(rng.geometric(0.55, products), 20)
    popularity = to_cdf(rng.lognormal(0.0, 1.3, products))

    category_names = np.array([*CATEGORY_NAMES, None], dtype=object)[category]
    rows: Rows = {table: [] for table in TABLE_COLUMNS}
    rows["geolocation"] = zips.geolocation_rows(rng, seller_zip, seller_city)
    rows["sellers"] = list(
        zip(
            seller_ids.tolist(),
            zip_prefixes(seller_zip),
            GEOGRAPHY.city_names[seller_city].tolist(),
            GEOGRAPHY.state_codes[seller_state].tolist(),
            strict=True,
        )
    )
    # Products without a category have no name, description or photo count either, as in
    # the real data.
    rows["products"] = list(
        zip(
            product_ids.tolist(),
            category_names.tolist(),
            nullable(name_length, has_category),
            nullable(description_length, has_category),
            nullable(photos, has_category),
            weight.tolist(),
            length.tolist(),
            height.tolist(),
            width.tolist(),
            strict=True,
        )
    )
    catalogue = Catalogue(
        product_ids=product_ids,
        product_seller=product_seller,
        product_price_cents=price_cents,
        product_weight_g=weight,
        product_cdf=popularity,
        seller_ids=seller_ids,
        seller_state=seller_state,
    )
    return catalogue, rows
