"""``olist load-csv``: the quirky Olist file set loaded into a real PostgreSQL, row by row.

The expected numbers below are worked out by hand from tests/fixtures/olist_csv.py.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from typer.testing import CliRunner

from emulators.postgres import LocalPostgres
from harness.processes import free_port
from olist_cli.main import app
from schemas import EVENT_FIELDS, SCHEMA_VERSION, OrderEvent, event_id_for, item_key_for
from source_db.connection import DatabaseUnavailable
from source_db.csv.errors import CsvDirectoryNotFound, DatabaseConnectionLost, NoCsvFileRecognised
from source_db.csv.loader import load_csv_directory
from source_db.csv.report import LoadReport, RejectedRow
from source_db.csv.tables import CSV_FILE_NAMES, CSV_TABLES
from source_db.csv.values import BadValue, Converter
from tests.fixtures.olist_csv import olist_id

TRANSLATION = "product_category_name_translation.csv"
CUSTOMERS = "olist_customers_dataset.csv"
GEOLOCATION = "olist_geolocation_dataset.csv"
SELLERS = "olist_sellers_dataset.csv"
PRODUCTS = "olist_products_dataset.csv"
ORDERS = "olist_orders_dataset.csv"
ITEMS = "olist_order_items_dataset.csv"
PAYMENTS = "olist_order_payments_dataset.csv"
REVIEWS = "olist_order_reviews_dataset.csv"

# file: (rows read, loaded, already present, orphans, malformed) on an empty database
FIRST_LOAD = {
    TRANSLATION: (5, 3, 0, 0, 2),
    CUSTOMERS: (8, 3, 0, 0, 5),
    GEOLOCATION: (7, 5, 0, 0, 2),
    SELLERS: (3, 2, 0, 0, 1),
    PRODUCTS: (6, 4, 0, 0, 2),
    ORDERS: (7, 4, 0, 1, 2),
    ITEMS: (14, 5, 0, 5, 4),
    PAYMENTS: (8, 5, 0, 1, 2),
    REVIEWS: (10, 6, 0, 1, 3),
}

# file: {(kind, reason): [line of each example]}
REJECTIONS = {
    TRANSLATION: {
        ("malformed", "duplicate key in the file"): [5],
        ("malformed", "product_category_name_english: empty"): [6],
    },
    CUSTOMERS: {
        ("malformed", "customer_id: not a 32-character lowercase hex id"): [5],
        ("malformed", "customer_zip_code_prefix: not a zip code prefix of 5 digits"): [6],
        ("malformed", "customer_state: not a Brazilian state code"): [7],
        ("malformed", "wrong number of fields"): [8],
        ("malformed", "duplicate key in the file"): [9],
    },
    GEOLOCATION: {
        ("malformed", "geolocation_lat: not a number"): [5],
        ("malformed", "geolocation_lat: out of range"): [7],
    },
    SELLERS: {("malformed", "seller_city: empty"): [4]},
    PRODUCTS: {
        ("malformed", "product_weight_g: not an integer"): [6],
        ("malformed", "product_length_cm: out of range"): [7],
    },
    ORDERS: {
        ("malformed", "order_status: unknown order status"): [6],
        ("malformed", "order_purchase_timestamp: not a timestamp"): [7],
        ("orphan", "customer_id not in olist.customers"): [5],
    },
    ITEMS: {
        ("malformed", "price: negative"): [11],
        ("malformed", "price: not an amount"): [12],
        ("malformed", "duplicate key in the file"): [13],
        ("malformed", "shipping_limit_date: not a timestamp"): [14],
        ("orphan", "order_id not in olist.orders"): [7, 8],
        # Line 15 misses its product and its seller: it counts once, under the product.
        ("orphan", "product_id not in olist.products"): [9, 15],
        ("orphan", "seller_id not in olist.sellers"): [10],
    },
    PAYMENTS: {
        ("malformed", "payment_type: unknown payment type"): [8],
        ("malformed", "payment_installments: not an integer"): [9],
        ("orphan", "order_id not in olist.orders"): [7],
    },
    REVIEWS: {
        # Lines count physical lines: the multi-line comments above push these down.
        ("malformed", "review_score: out of range"): [9],
        ("malformed", "review_score: not an integer"): [11],
        ("malformed", "review_creation_date: not a timestamp"): [13],
        ("orphan", "order_id not in olist.orders"): [8],
    },
}

TABLE_COUNTS = {
    "product_category_name_translation": 3,
    "customers": 3,
    "geolocation": 5,
    "sellers": 2,
    "products": 4,
    "orders": 4,
    "order_items": 5,
    "order_payments": 5,
    "order_reviews": 6,
}


def _totals(report: LoadReport) -> dict[str, tuple[int, int, int, int, int]]:
    return {
        f.file_name: (f.rows_read, f.loaded, f.already_present, f.orphans, f.malformed)
        for f in report.files
    }


async def _fetch(database_url: str, query: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetch(query, *args)
    finally:
        await connection.close()


async def _table_counts(database_url: str) -> dict[str, int]:
    counts = {}
    for table in TABLE_COUNTS:
        rows = await _fetch(database_url, f"SELECT count(*) FROM olist.{table}")
        counts[table] = rows[0][0]
    return counts


async def test_first_load_reports_exact_counts_per_file_and_reason(
    database_url: str, olist_csv_directory: Path
) -> None:
    report = await load_csv_directory(database_url, olist_csv_directory)

    assert report.file_names == list(CSV_FILE_NAMES)
    assert report.missing_files == []
    assert _totals(report) == FIRST_LOAD
    for f in report.files:
        assert f.error is None
        found = {(r.kind, r.reason): [row.line for row in r.examples] for r in f.rejections}
        assert found == REJECTIONS[f.file_name], f.file_name
        assert all(r.count == len(r.examples) for r in f.rejections), f.file_name
    assert report.file(CUSTOMERS).zip_prefixes_padded == 1
    assert report.file(GEOLOCATION).zip_prefixes_padded == 1
    assert await _table_counts(database_url) == TABLE_COUNTS


async def test_rejected_rows_carry_a_message_with_the_value_found(
    database_url: str, olist_csv_directory: Path
) -> None:
    report = await load_csv_directory(database_url, olist_csv_directory)

    def examples(file_name: str, reason: str) -> list[RejectedRow]:
        (rejection,) = [r for r in report.file(file_name).rejections if r.reason == reason]
        return rejection.examples

    assert examples(ITEMS, "seller_id not in olist.sellers") == [
        RejectedRow(10, f"seller_id '{olist_id('SX')}' not found in olist.sellers")
    ]
    assert examples(ORDERS, "order_purchase_timestamp: not a timestamp") == [
        RejectedRow(
            7,
            "order_purchase_timestamp: expected YYYY-MM-DD HH:MM:SS (read as UTC), "
            "found '2017/10/02 10:56:33'",
        )
    ]
    assert examples(CUSTOMERS, "wrong number of fields") == [
        RejectedRow(8, "expected 5 fields, found 4")
    ]
    assert examples(ITEMS, "duplicate key in the file") == [
        RejectedRow(13, f"order_id, order_item_id = ('{olist_id('O1')}', 1) already on line 3")
    ]
    assert report.file(ITEMS).rejected("orphan", "order_id not in olist.orders") == 2


async def test_quoted_multiline_comments_nulls_zips_and_timestamps_are_stored_exactly(
    database_url: str, olist_csv_directory: Path
) -> None:
    await load_csv_directory(database_url, olist_csv_directory)

    reviews = {
        (row["review_id"], row["order_id"]): row
        for row in await _fetch(database_url, "SELECT * FROM olist.order_reviews")
    }
    r1 = reviews[(olist_id("R1"), olist_id("O1"))]
    assert r1["review_comment_title"] is None
    assert r1["review_comment_message"] == (
        'Recebi bem antes do prazo, "ótimo"!\r\nProduto de qualidade.'
    )
    assert r1["review_creation_date"] == datetime(2017, 10, 11, tzinfo=UTC)
    assert r1["review_answer_timestamp"] == datetime(2017, 10, 12, 3, 43, 48, tzinfo=UTC)
    r2 = reviews[(olist_id("R2"), olist_id("O1"))]
    assert r2["review_comment_message"] == "Chegou antes do prazo.\nEmbalagem perfeita,\nnota 10"
    r3 = reviews[(olist_id("R3"), olist_id("O2"))]
    assert r3["review_comment_title"] == "Título, com vírgula"
    assert r3["review_comment_message"] == 'Não recebi o produto "ainda"'
    r9 = reviews[(olist_id("R9"), olist_id("O7"))]
    assert r9["review_comment_message"] == 'Loja "top", entrega rápida\r\n\r\nrecomendo'
    assert reviews[(olist_id("R6"), olist_id("O3"))]["review_answer_timestamp"] is None
    # One review id covering two orders is two rows.
    assert (olist_id("R1"), olist_id("O7")) in reviews

    customers = {
        row["customer_id"]: tuple(row)[1:]
        for row in await _fetch(database_url, "SELECT * FROM olist.customers")
    }
    assert customers == {
        olist_id("C1"): (olist_id("U1"), "01037", "sao paulo", "SP"),
        olist_id("C2"): (olist_id("U2"), "09790", "sao bernardo do campo", "SP"),
        olist_id("C3"): (olist_id("U3"), "22290", "rio de janeiro, botafogo", "RJ"),
    }
    sellers = await _fetch(
        database_url, "SELECT seller_id, seller_zip_code_prefix FROM olist.sellers"
    )
    assert {row[0]: row[1] for row in sellers} == {olist_id("S1"): "13023", olist_id("S2"): "04195"}

    products = {
        row["product_id"]: tuple(row)[1:]
        for row in await _fetch(database_url, "SELECT * FROM olist.products")
    }
    assert products[olist_id("P2")] == ("informatica_acessorios", 44, 276, 1, 700, 18, 8, 16)
    assert products[olist_id("P3")] == (None,) * 8
    assert products[olist_id("P4")][0] == "pc_gamer"

    orders = {
        row["order_id"]: row for row in await _fetch(database_url, "SELECT * FROM olist.orders")
    }
    o2 = orders[olist_id("O2")]
    assert o2["order_purchase_timestamp"] == datetime(2018, 7, 24, 20, 41, 37, tzinfo=UTC)
    assert o2["order_delivered_carrier_date"] == datetime(2018, 7, 26, 14, 31, tzinfo=UTC)
    assert o2["order_delivered_customer_date"] is None
    o3 = orders[olist_id("O3")]
    assert (o3["order_status"], o3["order_approved_at"]) == ("canceled", None)

    geolocation = [
        tuple(row)
        for row in await _fetch(database_url, "SELECT * FROM olist.geolocation ORDER BY 1")
    ]
    assert geolocation == [
        (1, "01037", -23.54562128115268, -46.63929204800168, "sao paulo", "SP"),
        (2, "01037", -23.54562128115268, -46.63929204800168, "sao paulo", "SP"),
        (3, "01046", -23.546081, -46.64482, "são paulo", "SP"),
        (5, "01035", -23.541577961711493, -46.64160722329613, "sao paulo", "SP"),
        (7, "09790", -23.69, -46.56, "sao bernardo do campo", "SP"),
    ]
    translation = await _fetch(
        database_url,
        "SELECT product_category_name_english FROM olist.product_category_name_translation"
        " ORDER BY 1",
    )
    assert [row[0] for row in translation] == [
        "bed_bath_table",
        "computers_accessories",
        "health_beauty",
    ]


async def test_order_items_get_source_sequence_in_purchase_time_order(
    database_url: str, olist_csv_directory: Path
) -> None:
    await load_csv_directory(database_url, olist_csv_directory)

    rows = await _fetch(
        database_url,
        "SELECT order_id, order_item_id FROM olist.order_items ORDER BY source_sequence",
    )
    assert [(row[0], row[1]) for row in rows] == [
        (olist_id("O7"), 1),  # purchased 2017-01-05, fourth line of the file
        (olist_id("O1"), 1),  # 2017-10-02
        (olist_id("O1"), 2),
        (olist_id("O3"), 1),  # 2018-02-13
        (olist_id("O2"), 1),  # 2018-07-24, first line of the file
    ]


async def test_order_events_view_serves_one_valid_event_per_loaded_item(
    database_url: str, olist_csv_directory: Path
) -> None:
    await load_csv_directory(database_url, olist_csv_directory)

    rows = await _fetch(
        database_url,
        f"SELECT {', '.join(EVENT_FIELDS)} FROM olist.order_events ORDER BY source_sequence",
    )
    events = [OrderEvent.model_validate(dict(row)) for row in rows]
    assert len(events) == 5
    assert all(event.schema_version == SCHEMA_VERSION for event in events)
    assert all(
        event.event_id == event_id_for(event.order_id, event.order_item_id, 1)
        and event.item_key == item_key_for(event.order_id, event.order_item_id)
        and (event.item_version, event.change_type) == (1, "created")
        and event.changed_at is not None
        for event in events
    )
    summary = [
        (
            event.order_id,
            event.order_item_id,
            event.payment_types,
            event.payment_total,
            event.payment_installments_max,
            event.review_score,
        )
        for event in events
    ]
    assert summary == [
        (olist_id("O7"), 1, ["not_defined"], Decimal("0.00"), 0, 4),  # R9 is later than R1
        (olist_id("O1"), 1, ["credit_card", "voucher"], Decimal("100.31"), 8, 5),  # R2
        (olist_id("O1"), 2, ["credit_card", "voucher"], Decimal("100.31"), 8, 5),
        (olist_id("O3"), 1, [], None, None, 2),
        (olist_id("O2"), 1, ["boleto"], Decimal("141.46"), 1, 1),
    ]
    o7, _, o1_second, o3, o2 = events
    assert (o7.product_category_name, o7.product_category_name_english) == ("pc_gamer", None)
    assert (o1_second.product_category_name, o1_second.product_weight_g) == (None, None)
    assert o3.review_answer_timestamp is None
    assert (o2.customer_zip_code_prefix, o2.product_weight_g) == ("09790", 700)
    assert (o2.price, o2.freight_value) == (Decimal("118.70"), Decimal("22.76"))
    assert o2.order_delivered_customer_date is None


async def test_second_load_inserts_nothing_and_reports_rows_already_present(
    database_url: str, olist_csv_directory: Path
) -> None:
    await load_csv_directory(database_url, olist_csv_directory)
    sequence_before = await _fetch(
        database_url, "SELECT last_value FROM olist.order_item_source_sequence"
    )

    again = await load_csv_directory(database_url, olist_csv_directory)

    assert _totals(again) == {
        name: (read, 0, loaded, orphans, malformed)
        for name, (read, loaded, _, orphans, malformed) in FIRST_LOAD.items()
    }
    assert await _table_counts(database_url) == TABLE_COUNTS
    sequence_after = await _fetch(
        database_url, "SELECT last_value FROM olist.order_item_source_sequence"
    )
    assert sequence_after == sequence_before


async def test_missing_files_are_reported_and_the_present_ones_load(
    database_url: str, olist_csv_directory: Path
) -> None:
    kept = {CUSTOMERS, ORDERS}
    for name in CSV_FILE_NAMES:
        if name not in kept:
            (olist_csv_directory / name).unlink()

    report = await load_csv_directory(database_url, olist_csv_directory)

    assert report.missing_files == [
        TRANSLATION,
        GEOLOCATION,
        SELLERS,
        PRODUCTS,
        ITEMS,
        PAYMENTS,
        REVIEWS,
    ]
    assert _totals(report) == {CUSTOMERS: FIRST_LOAD[CUSTOMERS], ORDERS: FIRST_LOAD[ORDERS]}


async def test_a_later_extract_finds_its_parents_in_the_database(
    database_url: str, olist_csv_directory: Path, tmp_path: Path
) -> None:
    await load_csv_directory(database_url, olist_csv_directory)
    later = tmp_path / "later"
    later.mkdir()
    (later / ITEMS).write_text(
        "order_id,order_item_id,product_id,seller_id,shipping_limit_date,price,freight_value\n"
        f"{olist_id('O3')},2,{olist_id('P2')},{olist_id('S1')},2018-02-19 21:18:39,5.00,1.00\n"
        f"{olist_id('O6')},1,{olist_id('P2')},{olist_id('S1')},2018-02-19 21:18:39,5.00,1.00\n",
        encoding="utf-8",
    )

    report = await load_csv_directory(database_url, later)

    assert _totals(report) == {ITEMS: (2, 1, 0, 1, 0)}
    last = await _fetch(
        database_url,
        "SELECT order_id, order_item_id FROM olist.order_items"
        " ORDER BY source_sequence DESC LIMIT 1",
    )
    assert tuple(last[0]) == (olist_id("O3"), 2)


async def test_broken_quoting_and_bytes_that_are_not_utf8_reject_only_their_row(
    database_url: str, tmp_path: Path
) -> None:
    (tmp_path / SELLERS).write_bytes(
        b"seller_id,seller_zip_code_prefix,seller_city,seller_state\n"
        + f"{olist_id('S1')},13023,campinas,SP\n".encode()
        + f'{olist_id("S2")},"04195"x,sao paulo,SP\n'.encode()
        + f"{olist_id('S3')},87050,maring\xe1,PR\n".encode("latin-1")
        + f"{olist_id('S4')},87050,maringá,PR\n".encode()
        + f"{olist_id('S6')},87050,mar\x00inga,PR\n".encode()
        + f'{olist_id("S5")},87050,"maring,PR\n'.encode()
    )

    report = await load_csv_directory(database_url, tmp_path)

    sellers = report.file(SELLERS)
    assert (sellers.rows_read, sellers.loaded, sellers.malformed) == (6, 2, 4)
    assert {r.reason: [e.line for e in r.examples] for r in sellers.rejections} == {
        "bad CSV syntax": [3, 7],  # a stray character after a quote; a quote never closed
        "NUL or bytes that are not UTF-8": [4, 6],  # latin-1 "á"; a NUL character
    }
    stored = await _fetch(database_url, "SELECT seller_city FROM olist.sellers ORDER BY 1")
    assert [row[0] for row in stored] == ["campinas", "maringá"]


async def test_a_file_with_a_foreign_header_is_refused_and_the_others_load(
    database_url: str, olist_csv_directory: Path
) -> None:
    (olist_csv_directory / SELLERS).write_text("id,zip,city,state\nx,1,y,SP\n", "utf-8")

    report = await load_csv_directory(database_url, olist_csv_directory)

    sellers = report.file(SELLERS)
    assert sellers.error is not None
    assert "expected the header seller_id,seller_zip_code_prefix" in sellers.error
    assert (sellers.rows_read, sellers.loaded) == (0, 0)
    # Without sellers every item is an orphan of its seller, or of its order/product first.
    items = report.file(ITEMS)
    assert items.rejected("orphan", "seller_id not in olist.sellers") == 6
    assert items.loaded == 0
    assert report.file(CUSTOMERS).loaded == 3


async def test_columns_in_another_order_load_by_header_name(
    database_url: str, tmp_path: Path
) -> None:
    (tmp_path / SELLERS).write_text(
        f"seller_state,seller_city,seller_id,seller_zip_code_prefix\nSP,campinas,"
        f"{olist_id('S1')},13023\n",
        "utf-8",
    )

    report = await load_csv_directory(database_url, tmp_path)

    assert _totals(report) == {SELLERS: (1, 1, 0, 0, 0)}
    stored = await _fetch(database_url, "SELECT * FROM olist.sellers")
    assert tuple(stored[0]) == (olist_id("S1"), "13023", "campinas", "SP")


async def test_a_directory_that_does_not_exist_is_an_error(
    database_url: str, tmp_path: Path
) -> None:
    with pytest.raises(CsvDirectoryNotFound, match="found no directory at"):
        await load_csv_directory(database_url, tmp_path / "nowhere")


async def test_a_directory_without_any_olist_file_is_an_error(
    database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "orders.csv").write_text("order_id\n", "utf-8")
    with pytest.raises(NoCsvFileRecognised, match=r"found \['orders.csv'\]"):
        await load_csv_directory(database_url, tmp_path)


async def test_an_unreachable_database_is_an_error_naming_the_server(
    olist_csv_directory: Path,
) -> None:
    dsn = f"postgresql://olist:secret@127.0.0.1:{free_port()}/olist"
    with pytest.raises(DatabaseUnavailable) as raised:
        await load_csv_directory(dsn, olist_csv_directory)
    message = str(raised.value)
    assert "could not connect to the source database postgresql://olist:***@127.0.0.1" in message
    assert "secret" not in message


@pytest.fixture
def empty_database_url(postgres_server: LocalPostgres) -> str:
    """A database without the Olist schema (the CLI must create it)."""
    name = f"olist_empty_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        admin = await asyncpg.connect(postgres_server.dsn)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()

    asyncio.run(create())
    return postgres_server.dsn.rsplit("/", 1)[0] + f"/{name}"


def test_cli_loads_an_empty_database_and_writes_the_json_report(
    empty_database_url: str,
    olist_csv_directory: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OLIST_DATABASE_URL", empty_database_url)
    report_path = tmp_path / "report.json"

    result = CliRunner().invoke(
        app, ["load-csv", str(olist_csv_directory), "--report-json", str(report_path)]
    )

    assert result.exit_code == 0, result.output
    table_line = next(line for line in result.output.splitlines() if line.startswith(ITEMS))
    assert table_line.split() == [ITEMS, "14", "5", "0", "5", "4"]
    assert "line 15: product_id" in result.output
    written = json.loads(report_path.read_text("utf-8"))
    assert written["missing_files"] == []
    assert {
        f["file_name"]: (
            f["rows_read"],
            f["loaded"],
            f["already_present"],
            f["orphans"],
            f["malformed"],
        )
        for f in written["files"]
    } == FIRST_LOAD
    counts = asyncio.run(_table_counts(empty_database_url))
    assert counts == TABLE_COUNTS


def test_cli_exits_1_with_a_message_when_the_directory_is_missing(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLIST_DATABASE_URL", database_url)

    result = CliRunner().invoke(app, ["load-csv", str(tmp_path / "nowhere")])

    assert result.exit_code == 1
    assert "error: expected a directory holding the Olist CSV files" in result.output


def test_cli_exits_1_with_a_message_when_the_database_is_unreachable(
    olist_csv_directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLIST_DATABASE_URL", f"postgresql://olist@127.0.0.1:{free_port()}/x")

    result = CliRunner().invoke(app, ["load-csv", str(olist_csv_directory)])

    assert result.exit_code == 1
    assert "error: could not connect to the source database" in result.output


async def test_a_connection_lost_mid_load_is_an_error_and_earlier_files_stay_loaded(
    database_url: str, olist_csv_directory: Path
) -> None:
    # Another session holds order_items, so the load waits there and can be cut off on cue.
    blocker = await asyncpg.connect(database_url)
    # A transaction reads pg_stat_activity once; the observer polls outside of one.
    observer = await asyncpg.connect(database_url)
    try:
        async with blocker.transaction():
            await blocker.execute("LOCK TABLE olist.order_items IN ACCESS EXCLUSIVE MODE")
            load = asyncio.create_task(load_csv_directory(database_url, olist_csv_directory))
            waiting = None
            for _ in range(600):
                waiting = await observer.fetchval(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND query LIKE 'LOCK TABLE olist.order_items%'"
                )
                if waiting is not None or load.done():
                    break
                await asyncio.sleep(0.05)
            assert waiting is not None, "the load never waited on olist.order_items"
            await observer.execute("SELECT pg_terminate_backend($1)", waiting)
            with pytest.raises(
                DatabaseConnectionLost,
                match=r"while loading olist_order_items_dataset\.csv: .*administrator command",
            ):
                await load
    finally:
        await blocker.close()
        await observer.close()

    counts = await _table_counts(database_url)
    assert counts == {**TABLE_COUNTS, "order_items": 0, "order_payments": 0, "order_reviews": 0}


@pytest.mark.parametrize(
    ("column", "value", "stored"),
    [
        ("product_weight_g", "700.0", 700),
        ("product_weight_g", "", None),
        ("price", "0", Decimal("0")),
        ("price", "1234567890.99", Decimal("1234567890.99")),
        ("geolocation_lat", "-2.3e-05", -2.3e-05),
        ("customer_zip_code_prefix", "7", "00007"),
        ("order_approved_at", "2016-02-29 23:59:59", datetime(2016, 2, 29, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_field_values_at_the_edges_are_accepted(column: str, value: str, stored: object) -> None:
    assert _converter(column)(value) == stored


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("product_weight_g", "+5", "not an integer"),
        ("product_weight_g", "1e3", "not an integer"),
        ("product_weight_g", "2147483648", "out of range"),
        ("product_weight_g", "9" * 5000, "out of range"),
        ("price", "1.005", "not an amount"),
        ("price", "12345678901.00", "not an amount"),
        ("price", "NaN", "not an amount"),
        ("geolocation_lat", "nan", "out of range"),
        ("geolocation_lng", "-inf", "out of range"),
        ("customer_zip_code_prefix", "", "not a zip code prefix of 5 digits"),
        ("customer_zip_code_prefix", "０１０３７", "not a zip code prefix of 5 digits"),
        ("order_approved_at", "2017-10-02T10:56:33", "not a timestamp"),
        ("order_approved_at", "2017-02-30 00:00:00", "not a timestamp"),
        ("order_approved_at", "2017-10-02 10:56:33+03", "not a timestamp"),
        ("order_purchase_timestamp", "", "empty"),
        ("customer_id", olist_id("C1").upper(), "not a 32-character lowercase hex id"),
        ("customer_state", "sp", "not a Brazilian state code"),
    ],
)
def test_field_values_outside_the_dataset_shapes_are_refused(
    column: str, value: str, problem: str
) -> None:
    with pytest.raises(BadValue) as raised:
        _converter(column)(value)
    assert raised.value.problem == problem


def _converter(column_name: str) -> Converter:
    for table in CSV_TABLES:
        for column in table.columns:
            if column.name == column_name:
                return column.convert
    raise AssertionError(f"no column {column_name}")
