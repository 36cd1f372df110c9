"""The synthetic data generator: deterministic, realistic, consistent, and loadable twice."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import asyncpg
import numpy as np
import pytest
from typer.testing import CliRunner

from emulators.postgres import LocalPostgres
from olist_cli.main import app
from schemas.order_event import OrderEvent
from source_db.synthetic import reference_data as ref
from source_db.synthetic.customers import CustomerPool
from source_db.synthetic.errors import InvalidGenerationRequest, SchemaMissingError
from source_db.synthetic.generator import GenerationReport, generate_dataset
from source_db.synthetic.tables import TABLE_COLUMNS

DISTRIBUTION_ORDERS = 5_000
DISTRIBUTION_SEED = 20180901
TABLES = ("product_category_name_translation", *TABLE_COLUMNS)
_names = itertools.count(1)


def _run_admin(server: LocalPostgres, statement: str) -> None:
    async def run() -> None:
        admin = await asyncpg.connect(server.dsn)
        try:
            await admin.execute(statement)
        finally:
            await admin.close()

    asyncio.run(run())


@pytest.fixture
def fresh_database(
    postgres_server: LocalPostgres,
) -> Iterator[Callable[..., Coroutine[Any, Any, str]]]:
    """Make fresh databases: with the Olist schema (default) or empty; all dropped after."""
    created: list[str] = []
    base = postgres_server.dsn.rsplit("/", 1)[0]

    async def make(*, with_schema: bool = True) -> str:
        name = f"olist_generator_{next(_names)}"
        template = ' TEMPLATE "olist_template"' if with_schema else ""
        admin = await asyncpg.connect(postgres_server.dsn)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"{template}')
        finally:
            await admin.close()
        created.append(name)
        return f"{base}/{name}"

    yield make
    for name in created:
        _run_admin(postgres_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def generated(postgres_server: LocalPostgres) -> Iterator[tuple[str, GenerationReport]]:
    """One database holding DISTRIBUTION_ORDERS generated orders, shared by this module."""
    name = "olist_generator_distribution"
    _run_admin(postgres_server, f'CREATE DATABASE "{name}" TEMPLATE "olist_template"')
    dsn = postgres_server.dsn.rsplit("/", 1)[0] + f"/{name}"
    try:
        report = asyncio.run(
            generate_dataset(dsn, orders=DISTRIBUTION_ORDERS, seed=DISTRIBUTION_SEED)
        )
        yield dsn, report
    finally:
        _run_admin(postgres_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _fetchval(dsn: str, query: str):
    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetchval(query)
    finally:
        await connection.close()


async def _checksums(dsn: str) -> dict[str, str]:
    connection = await asyncpg.connect(dsn)
    try:
        return {
            table: await connection.fetchval(
                # Every column but the time of writing (order_items.changed_at).
                "SELECT md5(string_agg(r::text, E'\\n' ORDER BY r::text)) "
                f"FROM (SELECT to_jsonb(t) - 'changed_at' AS r FROM olist.{table} t) AS rows"
            )
            for table in TABLES
        }
    finally:
        await connection.close()


async def _table_counts(dsn: str) -> dict[str, int]:
    connection = await asyncpg.connect(dsn)
    try:
        return {
            table: await connection.fetchval(f"SELECT count(*) FROM olist.{table}")
            for table in TABLES
        }
    finally:
        await connection.close()


# ---------------------------------------------------------------------------------------------
# Determinism and appending


async def test_same_seed_writes_identical_rows_and_another_seed_differs(
    fresh_database: Callable[..., Coroutine[Any, Any, str]],
) -> None:
    first, second, other = [await fresh_database() for _ in range(3)]
    # Small chunks so that the chunked path (several transactions, spawned streams) is covered.
    await generate_dataset(first, orders=700, seed=11, chunk_orders=300)
    await generate_dataset(second, orders=700, seed=11, chunk_orders=300)
    await generate_dataset(other, orders=700, seed=12, chunk_orders=300)

    first_sums, second_sums, other_sums = (
        await _checksums(first),
        await _checksums(second),
        await _checksums(other),
    )
    assert first_sums == second_sums
    assert all(first_sums[table] is not None for table in TABLES)
    differing = {table for table in TABLES if first_sums[table] != other_sums[table]}
    # Only the fixed category list is the same whatever the seed.
    assert differing == set(TABLES) - {"product_category_name_translation"}


async def test_second_run_with_the_same_seed_appends_a_new_set(
    fresh_database: Callable[..., Coroutine[Any, Any, str]],
) -> None:
    dsn = await fresh_database()
    first = await generate_dataset(dsn, orders=400, seed=5)
    second = await generate_dataset(dsn, orders=400, seed=5)

    assert (first.existing_orders, second.existing_orders) == (0, 400)
    assert second.rows["product_category_name_translation"] == 0
    counts = await _table_counts(dsn)
    assert counts["orders"] == 800
    assert counts["customers"] == 800
    assert counts["order_items"] == first.items + second.items
    assert counts["product_category_name_translation"] == 71
    assert counts["geolocation"] == first.rows["geolocation"] + second.rows["geolocation"]
    # Geolocation ids continue after the first run's.
    assert (
        await _fetchval(dsn, "SELECT max(geolocation_id) FROM olist.geolocation")
        == (counts["geolocation"])
    )


async def test_report_counts_match_the_tables(
    generated: tuple[str, GenerationReport],
) -> None:
    dsn, report = generated
    assert report.orders == DISTRIBUTION_ORDERS
    assert report.rows == await _table_counts(dsn)
    assert report.rows["order_items"] == report.items
    assert report.rows["sellers"] == round(DISTRIBUTION_ORDERS * ref.SELLERS_PER_ORDER)
    assert report.rows["products"] == round(DISTRIBUTION_ORDERS * ref.PRODUCTS_PER_ORDER)
    assert report.items_per_second > 0


async def test_generate_refuses_a_database_without_the_olist_schema(
    fresh_database: Callable[..., Coroutine[Any, Any, str]],
) -> None:
    with pytest.raises(SchemaMissingError, match="run `olist db init` first"):
        await generate_dataset(await fresh_database(with_schema=False), orders=10, seed=1)


@pytest.mark.parametrize(
    ("orders", "seed", "chunk_orders", "message"),
    [
        (0, 1, 10, "expected orders >= 1, got 0"),
        (10, -1, 10, "expected a seed >= 0, got -1"),
        (10, 1, 0, "expected chunk_orders >= 1, got 0"),
    ],
)
async def test_generate_rejects_out_of_range_arguments(
    orders: int, seed: int, chunk_orders: int, message: str
) -> None:
    with pytest.raises(InvalidGenerationRequest, match=message):
        await generate_dataset(
            "postgresql://unused@127.0.0.1:1/none",
            orders=orders,
            seed=seed,
            chunk_orders=chunk_orders,
        )


# ---------------------------------------------------------------------------------------------
# Realism


async def _share(dsn: str, query: str) -> float:
    return float(await _fetchval(dsn, query))


async def test_customers_are_spread_over_states_like_the_real_data(
    generated: tuple[str, GenerationReport],
) -> None:
    dsn, _ = generated
    shares = {
        state: await _share(
            dsn,
            "SELECT avg((customer_state = '" + state + "')::int) FROM olist.customers",
        )
        for state in ("SP", "RJ", "MG")
    }
    assert 0.39 <= shares["SP"] <= 0.45
    assert 0.11 <= shares["RJ"] <= 0.15
    assert 0.10 <= shares["MG"] <= 0.135
    # Each city's zip prefix lies in its state's range: every (zip, city, state) is known.
    allowed = {
        (city.name, state.code): (city.zip_first, city.zip_last)
        for state in ref.STATES
        for city in state.cities
    }
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT customer_zip_code_prefix AS zip, customer_city AS city,"
            " customer_state AS state FROM olist.customers"
            " UNION ALL SELECT seller_zip_code_prefix, seller_city, seller_state"
            " FROM olist.sellers"
        )
    finally:
        await connection.close()
    outside = [
        row
        for row in rows
        if not (
            (row["city"], row["state"]) in allowed
            and allowed[(row["city"], row["state"])][0]
            <= int(row["zip"])
            <= allowed[(row["city"], row["state"])][1]
        )
    ]
    assert outside == []


async def test_returning_customers_share_their_unique_id_and_address(
    generated: tuple[str, GenerationReport],
) -> None:
    dsn, _ = generated
    repeated = await _share(
        dsn,
        "SELECT 1 - count(DISTINCT customer_unique_id)::float / count(*) FROM olist.customers",
    )
    assert 0.015 <= repeated <= 0.045
    moved = await _fetchval(
        dsn,
        "SELECT count(*) FROM (SELECT customer_unique_id FROM olist.customers"
        " GROUP BY 1 HAVING count(DISTINCT customer_zip_code_prefix) > 1) AS t",
    )
    assert moved == 0


async def test_review_scores_are_skewed_to_five(generated: tuple[str, GenerationReport]) -> None:
    dsn, _ = generated
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT review_score, count(*)::float / sum(count(*)) OVER () AS share"
            " FROM olist.order_reviews GROUP BY 1 ORDER BY 2 DESC"
        )
        unreviewed_delivered = await connection.fetchval(
            "SELECT avg((r.order_id IS NULL)::int)::float FROM olist.orders o"
            " LEFT JOIN olist.order_reviews r USING (order_id) WHERE o.order_status = 'delivered'"
        )
    finally:
        await connection.close()
    order = [row["review_score"] for row in rows]
    share = {row["review_score"]: row["share"] for row in rows}
    assert order[:2] == [5, 4]
    assert share[5] > 0.5
    assert 0.08 <= share[1] <= 0.16
    assert unreviewed_delivered == 0


# Mean review score of delivered orders by delivery delay (delivery day minus promised day, in
# São Paulo): the figures stated in docs/operations/synthetic-data.md#review-scores, with the
# tolerance a 5,000-order sample allows (fewer than 100 reviews in each late bucket).
SCORE_BY_DELAY = {
    "a week early or more": (4.22, 0.15),
    "up to a week early or on the day": (4.15, 0.15),
    "1-3 days late": (3.1, 0.4),
    "4-7 days late": (2.55, 0.45),
    "more than a week late": (1.9, 0.45),
}


async def test_review_scores_fall_as_the_delivery_delay_grows(
    generated: tuple[str, GenerationReport],
) -> None:
    dsn, _ = generated
    connection = await asyncpg.connect(dsn, server_settings={"TimeZone": "America/Sao_Paulo"})
    try:
        rows = await connection.fetch(
            """SELECT CASE WHEN d <= -7 THEN 'a week early or more'
                           WHEN d <= 0 THEN 'up to a week early or on the day'
                           WHEN d <= 3 THEN '1-3 days late'
                           WHEN d <= 7 THEN '4-7 days late'
                           ELSE 'more than a week late' END AS bucket,
                      avg(r.review_score)::float AS score, count(*) AS reviews
               FROM (SELECT order_id, order_delivered_customer_date::date
                            - order_estimated_delivery_date::date AS d
                     FROM olist.orders WHERE order_status = 'delivered') AS o
               JOIN olist.order_reviews AS r USING (order_id)
               GROUP BY 1"""
        )
    finally:
        await connection.close()
    scores = {row["bucket"]: row["score"] for row in rows}
    assert set(scores) == set(SCORE_BY_DELAY)
    for bucket, (expected, tolerance) in SCORE_BY_DELAY.items():
        assert abs(scores[bucket] - expected) <= tolerance, (bucket, scores[bucket])
    ordered = [scores[bucket] for bucket in SCORE_BY_DELAY]
    assert ordered == sorted(ordered, reverse=True), scores  # falls as the delay grows


async def test_orders_are_mostly_delivered_with_consistent_dates(
    generated: tuple[str, GenerationReport],
) -> None:
    dsn, _ = generated
    delivered = await _share(dsn, "SELECT avg((order_status = 'delivered')::int) FROM olist.orders")
    assert 0.96 <= delivered <= 0.98
    late = await _share(
        dsn,
        "SELECT avg((order_delivered_customer_date > order_estimated_delivery_date)::int)"
        " FROM olist.orders WHERE order_status = 'delivered'",
    )
    assert 0.04 <= late <= 0.12
    median_days = await _share(
        dsn,
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM"
        " order_delivered_customer_date - order_purchase_timestamp) / 86400)"
        " FROM olist.orders WHERE order_status = 'delivered'",
    )
    assert 7.0 <= median_days <= 13.0
    approval_minutes = await _share(
        dsn,
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM"
        " order_approved_at - order_purchase_timestamp) / 60) FROM olist.orders",
    )
    assert 5.0 <= approval_minutes <= 120.0
    # A status never carries a date it cannot have, and dates never run backwards.
    inconsistent = await _fetchval(
        dsn,
        """
        SELECT count(*) FROM olist.orders WHERE
            (order_status = 'created' AND order_approved_at IS NOT NULL)
            OR (order_status IN ('approved', 'invoiced', 'processing', 'unavailable',
                                 'shipped', 'delivered') AND order_approved_at IS NULL)
            OR (order_status IN ('shipped', 'delivered'))
                <> (order_delivered_carrier_date IS NOT NULL)
            OR (order_status = 'delivered') <> (order_delivered_customer_date IS NOT NULL)
            OR order_approved_at < order_purchase_timestamp
            OR order_delivered_carrier_date < order_approved_at
            OR order_delivered_customer_date < order_delivered_carrier_date
            OR order_estimated_delivery_date <= order_purchase_timestamp
        """,
    )
    assert inconsistent == 0
    early_reviews = await _fetchval(
        dsn,
        "SELECT count(*) FROM olist.order_reviews r JOIN olist.orders o USING (order_id)"
        " WHERE r.review_creation_date < o.order_purchase_timestamp"
        " OR r.review_answer_timestamp < r.review_creation_date"
        " OR (o.order_status = 'delivered'"
        "     AND r.review_creation_date < o.order_delivered_customer_date)",
    )
    assert early_reviews == 0


async def test_purchases_span_2016_to_2018_and_grow(
    generated: tuple[str, GenerationReport],
) -> None:
    dsn, _ = generated
    # Dates as in the data's zone: the generator draws São Paulo wall-clock times.
    connection = await asyncpg.connect(dsn, server_settings={"TimeZone": "America/Sao_Paulo"})
    try:
        bounds = await connection.fetchrow(
            "SELECT min(order_purchase_timestamp)::date::text AS first,"
            " max(order_purchase_timestamp)::date::text AS last FROM olist.orders"
        )
        halves = await connection.fetch(
            "SELECT to_char(order_purchase_timestamp, 'YYYY') ||"
            " CASE WHEN extract(month FROM order_purchase_timestamp) <= 6"
            " THEN 'H1' ELSE 'H2' END, count(*) FROM olist.orders GROUP BY 1"
        )
        per_half = {half: count for half, count in halves}
    finally:
        await connection.close()
    assert bounds is not None
    assert bounds["first"] >= "2016-09-01"
    assert bounds["last"] <= "2018-10-31"
    assert per_half["2016H2"] < per_half["2017H1"] < per_half["2017H2"] < per_half["2018H1"]


async def test_items_prices_and_categories_look_like_the_real_data(
    generated: tuple[str, GenerationReport],
) -> None:
    dsn, _ = generated
    single_item = await _share(
        dsn,
        "SELECT avg((n = 1)::int) FROM (SELECT count(*) AS n FROM olist.order_items"
        " GROUP BY order_id) AS t",
    )
    assert 0.87 <= single_item <= 0.93
    orders_without_items = await _fetchval(
        dsn,
        "SELECT count(*) FROM olist.orders o WHERE NOT EXISTS"
        " (SELECT 1 FROM olist.order_items i WHERE i.order_id = o.order_id)",
    )
    assert orders_without_items == 0
    median_price = await _share(
        dsn, "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY price) FROM olist.order_items"
    )
    assert 55 <= median_price <= 100
    median_freight = await _share(
        dsn,
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY freight_value) FROM olist.order_items",
    )
    assert 10 <= median_freight <= 25
    unknown_categories = await _fetchval(
        dsn,
        "SELECT count(*) FROM olist.products p LEFT JOIN olist.product_category_name_translation"
        " t USING (product_category_name) WHERE p.product_category_name IS NOT NULL"
        " AND t.product_category_name IS NULL",
    )
    assert unknown_categories == 0
    uncategorised = await _share(
        dsn, "SELECT avg((product_category_name IS NULL)::int) FROM olist.products"
    )
    assert 0.008 <= uncategorised <= 0.035
    connection = await asyncpg.connect(dsn)
    try:
        leaders = await connection.fetch(
            "SELECT p.product_category_name FROM olist.order_items i"
            " JOIN olist.products p USING (product_id) WHERE p.product_category_name IS NOT NULL"
            " GROUP BY 1 ORDER BY count(*) DESC LIMIT 8"
        )
    finally:
        await connection.close()
    top_five = {
        "cama_mesa_banho",
        "beleza_saude",
        "esporte_lazer",
        "moveis_decoracao",
        "informatica_acessorios",
    }
    # Popularity is per product, so the order among leaders varies; most leaders stay on top.
    assert len(top_five & {row[0] for row in leaders}) >= 4


async def test_payments_add_up_to_the_items_and_follow_the_real_mix(
    generated: tuple[str, GenerationReport],
) -> None:
    dsn, _ = generated
    mismatched = await _fetchval(
        dsn,
        """
        SELECT count(*) FROM (
            SELECT order_id, sum(price + freight_value) AS due FROM olist.order_items GROUP BY 1
        ) AS items
        FULL JOIN (
            SELECT order_id, sum(payment_value) AS paid, count(*) AS payments,
                   max(payment_sequential) AS last_sequential
            FROM olist.order_payments GROUP BY 1
        ) AS payments USING (order_id)
        WHERE due IS DISTINCT FROM paid OR payments <> last_sequential
        """,
    )
    assert mismatched == 0
    bad_installments = await _fetchval(
        dsn,
        "SELECT count(*) FROM olist.order_payments WHERE"
        " (payment_type = 'credit_card' AND payment_installments NOT BETWEEN 1 AND 24)"
        " OR (payment_type <> 'credit_card' AND payment_installments <> 1)",
    )
    assert bad_installments == 0
    one_installment = await _share(
        dsn,
        "SELECT avg((payment_installments = 1)::int) FROM olist.order_payments"
        " WHERE payment_type = 'credit_card'",
    )
    # As in the real data: a third pay at once, and nearly two thirds in at most 3 parts.
    assert 0.28 <= one_installment <= 0.40
    up_to_three = await _share(
        dsn,
        "SELECT avg((payment_installments <= 3)::int) FROM olist.order_payments"
        " WHERE payment_type = 'credit_card'",
    )
    assert 0.56 <= up_to_three <= 0.70
    connection = await asyncpg.connect(dsn)
    try:
        shares = await connection.fetch(
            "SELECT payment_type, count(*)::float / sum(count(*)) OVER ()"
            " FROM olist.order_payments GROUP BY 1"
        )
        share = {payment_type: fraction for payment_type, fraction in shares}
        vouchers_second = await connection.fetchval(
            "SELECT avg((payment_sequential > 1)::int)::float FROM olist.order_payments"
            " WHERE payment_type = 'voucher'"
        )
    finally:
        await connection.close()
    assert 0.70 <= share["credit_card"] <= 0.78
    assert 0.16 <= share["boleto"] <= 0.22
    assert 0.03 <= share["voucher"] <= 0.08
    assert 0.005 <= share["debit_card"] <= 0.03
    assert vouchers_second > 0.4


async def test_ids_are_32_hex_and_geolocation_covers_every_zip_inside_brazil(
    generated: tuple[str, GenerationReport],
) -> None:
    dsn, _ = generated
    bad_ids = await _fetchval(
        dsn,
        """
        SELECT count(*) FROM (
            SELECT order_id AS id FROM olist.orders UNION ALL SELECT customer_id FROM olist.orders
            UNION ALL SELECT customer_unique_id FROM olist.customers
            UNION ALL SELECT product_id FROM olist.products
            UNION ALL SELECT seller_id FROM olist.sellers
            UNION ALL SELECT review_id FROM olist.order_reviews
        ) AS ids WHERE id !~ '^[0-9a-f]{32}$'
        """,
    )
    assert bad_ids == 0
    missing = await _fetchval(
        dsn,
        """
        SELECT count(*) FROM (
            SELECT customer_zip_code_prefix AS zip FROM olist.customers
            UNION SELECT seller_zip_code_prefix FROM olist.sellers
        ) AS used
        WHERE NOT EXISTS (
            SELECT 1 FROM olist.geolocation g WHERE g.geolocation_zip_code_prefix = used.zip)
        """,
    )
    assert missing == 0
    outside_brazil = await _fetchval(
        dsn,
        "SELECT count(*) FROM olist.geolocation WHERE geolocation_lat NOT BETWEEN -34 AND 5.5"
        " OR geolocation_lng NOT BETWEEN -74 AND -34",
    )
    assert outside_brazil == 0


async def test_source_sequence_follows_purchase_time(
    generated: tuple[str, GenerationReport],
) -> None:
    dsn, _ = generated
    backwards = await _fetchval(
        dsn,
        """
        SELECT count(*) FROM (
            SELECT o.order_purchase_timestamp AS bought,
                   lag(o.order_purchase_timestamp) OVER (ORDER BY i.source_sequence) AS before
            FROM olist.order_items i JOIN olist.orders o USING (order_id)
        ) AS t WHERE before > bought
        """,
    )
    assert backwards == 0


async def test_every_event_of_the_view_validates_against_the_event_schema(
    generated: tuple[str, GenerationReport],
) -> None:
    dsn, report = generated
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch("SELECT * FROM olist.order_events ORDER BY source_sequence")
    finally:
        await connection.close()
    events = [OrderEvent.model_validate(dict(row)) for row in rows]
    assert len(events) == report.items
    assert len({event.event_id for event in events}) == report.items
    assert sum(event.review_score is not None for event in events) > 0.95 * report.items


def test_customer_pool_grows_past_its_buffer_and_keeps_the_newest_half_at_its_limit() -> None:
    pool = CustomerPool(limit=3000)
    for batch in range(4):
        numbers = np.arange(batch * 1000, (batch + 1) * 1000)
        pool.extend(
            np.array([f"{number:032x}" for number in numbers], dtype=object),
            numbers,
            np.array(["sao paulo"] * 1000, dtype=object),
            np.zeros(1000, dtype=np.int64),
        )
        if batch == 2:
            # 3000 people: past the first 1024-entry buffer, not past the limit.
            assert pool.size == 3000
            assert pool.zip_prefix.tolist() == list(range(3000))
    # The fourth batch passes the limit: the newest 1500 people stay, oldest first.
    assert pool.size == 1500
    assert pool.zip_prefix.tolist() == list(range(2500, 4000))
    assert pool.unique_ids[0] == f"{2500:032x}"


# ---------------------------------------------------------------------------------------------
# Command line


def test_generate_command_writes_orders_and_prints_a_summary(
    fresh_database: Callable[..., Coroutine[Any, Any, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An empty database: the command creates the schema itself.
    dsn = asyncio.run(fresh_database(with_schema=False))
    monkeypatch.setenv("OLIST_DATABASE_URL", dsn)
    result = CliRunner().invoke(app, ["generate", "--orders", "300", "--seed", "9"])
    assert result.exit_code == 0, result.output
    assert asyncio.run(_fetchval(dsn, "SELECT count(*) FROM olist.orders")) == 300
    assert "300 / 300 orders" in result.output
    assert re.search(r"orders\s+300 rows", result.output)
    assert re.search(r"order items in [0-9.]+ s \([0-9,]+ items/s\)", result.output)


def test_generate_command_rejects_zero_orders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OLIST_DATABASE_URL", "postgresql://olist@127.0.0.1:1/olist")
    result = CliRunner().invoke(app, ["generate", "--orders", "0"])
    assert result.exit_code == 2
    assert "--orders" in result.output


def test_generate_command_reports_an_unreachable_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OLIST_DATABASE_URL", "postgresql://olist:secret@127.0.0.1:1/olist")
    result = CliRunner().invoke(app, ["generate", "--orders", "10"])
    assert result.exit_code == 1
    assert "expected a reachable PostgreSQL server at 127.0.0.1:1/olist" in result.output
    assert "secret" not in result.output
