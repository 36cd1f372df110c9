"""``olist`` commands of the source database: ``db init``, ``load-csv``, ``generate``, ``simulate``.

Each command imports what it runs when it runs (asyncpg; numpy for ``generate`` and ``simulate``),
so gathering the commands into ``olist`` stays light.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from source_db.settings import DatabaseSettings

app = typer.Typer(no_args_is_help=True)
"""``olist load-csv``, ``olist generate``, ``olist simulate``."""
db_app = typer.Typer(no_args_is_help=True, help="Manage the source PostgreSQL database.")
"""``olist db``: ``olist db init``. Kept apart from :data:`app` so that ``olist`` lists it after
``olist api``, where it always was."""


@db_app.command("init")
def db_init() -> None:
    """Create the Olist tables, the order_events view and its pre-rendered feed (idempotent)."""
    from pydantic import ValidationError

    from source_db.connection import DatabaseUnavailable
    from source_db.ddl import init_database

    try:
        settings = DatabaseSettings()
    except ValidationError as error:
        typer.echo(f"error: invalid configuration: {error.errors()[0]['msg']}", err=True)
        raise typer.Exit(2) from None
    try:
        asyncio.run(init_database(settings.dsn))
    except DatabaseUnavailable as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo("database schema is up to date")


@app.command("load-csv")
def load_csv(
    directory: Annotated[
        Path,
        typer.Argument(
            metavar="DIR", help="Folder holding the Kaggle Olist CSV files (names as unzipped)."
        ),
    ],
    report_json: Annotated[
        Path | None,
        typer.Option("--report-json", help="Also write the load report as JSON to this file."),
    ] = None,
) -> None:
    """Load the Kaggle Olist CSV files into the source database (creates the schema if needed).

    Rows that cannot be stored are counted in the report and skipped; loading the same files
    again inserts nothing. Exits 1 only when DIR is missing, holds none of the files, or
    the database cannot be reached.
    """
    from source_db.connection import DatabaseUnavailable
    from source_db.csv.errors import CsvLoadError
    from source_db.csv.loader import load_csv_directory
    from source_db.csv.report import render_report

    settings = DatabaseSettings()
    try:
        report = asyncio.run(load_csv_directory(settings.dsn, directory, initialise_schema=True))
    except (CsvLoadError, DatabaseUnavailable) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from error
    typer.echo(render_report(report))
    if report_json is not None:
        report.write_json(report_json)
        typer.echo(f"report written to {report_json}")


@app.command("generate")
def generate(
    orders: Annotated[int, typer.Option("--orders", min=1, help="Orders to write.")],
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the random data.")] = 42,
    chunk_orders: Annotated[
        int, typer.Option("--chunk-orders", min=1, help="Orders written per transaction.")
    ] = 50_000,
) -> None:
    """Write realistic synthetic Olist orders into the source database (creates the schema).

    Same seed on an empty database, same rows. On a database that already has orders, a new
    independent set is appended (the seed is mixed with the existing order count).
    """
    from source_db.connection import DatabaseUnavailable, connect
    from source_db.ddl import init_database
    from source_db.synthetic.errors import GeneratorError
    from source_db.synthetic.generator import (
        GenerationProgress,
        GenerationReport,
        generate_dataset,
    )

    settings = DatabaseSettings()

    def show(progress: GenerationProgress) -> None:
        typer.echo(
            f"  {progress.orders_done:>10,} / {progress.orders_total:,} orders"
            f"  {progress.items_done:>10,} items  {progress.seconds:7.1f} s"
        )

    async def run() -> GenerationReport:
        # Probe first: an unreachable server is reported as DatabaseUnavailable, not a traceback.
        await (await connect(settings.dsn)).close()
        await init_database(settings.dsn)
        return await generate_dataset(
            settings.dsn,
            orders=orders,
            seed=seed,
            chunk_orders=chunk_orders,
            progress=show,
        )

    try:
        report = asyncio.run(run())
    except (GeneratorError, DatabaseUnavailable) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from error
    typer.echo(f"generated seed={report.seed} (orders already present: {report.existing_orders})")
    for table, rows in report.rows.items():
        typer.echo(f"  {table:<36} {rows:>12,} rows")
    typer.echo(
        f"{report.items:,} order items in {report.seconds:.1f} s"
        f" ({report.items_per_second:,.0f} items/s)"
    )


@app.command("simulate")
def simulate(
    rate: Annotated[float, typer.Option("--rate", min=0.001, help="Orders per second.")],
    seed: Annotated[
        int | None, typer.Option("--seed", min=0, help="Seed (default: a random one).")
    ] = None,
    duration: Annotated[
        float | None, typer.Option("--duration", min=0.001, help="Stop after SECONDS.")
    ] = None,
    max_orders: Annotated[
        int | None, typer.Option("--max-orders", min=1, help="Stop after N orders.")
    ] = None,
    days_per_minute: Annotated[
        float,
        typer.Option(
            "--days-per-minute",
            min=0.0001,
            help="Simulated days per real minute (1/1440: real time).",
        ),
    ] = 1.0,
) -> None:
    """Keep inserting new orders (bought now) at RATE per second and move them through their
    life cycle: approval, carrier handover, delivery (or cancellation), review.

    Runs until --duration, --max-orders, SIGINT or SIGTERM; a signal stops it after the
    transaction in flight. Orders still in flight move on at the next run. Prints a summary
    on exit.
    """
    import secrets
    import signal

    from source_db.connection import DatabaseUnavailable
    from source_db.synthetic import simulator
    from source_db.synthetic.errors import GeneratorError

    settings = DatabaseSettings()
    chosen_seed = secrets.randbits(32) if seed is None else seed

    async def run() -> simulator.SimulationReport:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, stop.set)
        return await simulator.simulate(
            settings.dsn,
            rate=rate,
            seed=chosen_seed,
            stop=stop,
            max_orders=max_orders,
            duration=duration,
            days_per_minute=days_per_minute,
        )

    typer.echo(
        f"simulating {rate:g} orders/s with seed={chosen_seed}, {days_per_minute:g} simulated"
        " days per minute; Ctrl-C stops"
    )
    try:
        report = asyncio.run(run())
    except (GeneratorError, simulator.SimulatorError, DatabaseUnavailable) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from error
    typer.echo(
        f"simulated {report.orders:,} orders ({report.items:,} items) in {report.seconds:.1f} s"
        f" ({report.orders_per_second:.2f} orders/s), stopped by {report.stopped_by};"
        f" {report.stages:,} stages, {report.in_flight:,} in flight"
    )
