"""``olist services up|down|status|env``: the local servers in the background, for by-hand runs.

``eval "$(olist services up)"`` starts PostgreSQL, the Pub/Sub emulator, fake-gcs-server and
bqemulator (:mod:`harness.services`) and sets the variables every ``olist`` command,
``spark-submit`` and the ``bq`` CLI need. Progress goes to stderr, the ``export`` lines to
stdout. Exit codes: 0 done (``status``: every service runs), 1 a service did not start or
stop (``status``: one is not running), with one ``error:`` line.
"""

from __future__ import annotations

from pathlib import Path

import typer

from harness.services import DEFAULT_DIRECTORY

app = typer.Typer(no_args_is_help=True, help="Local servers in the background (by-hand runs).")

EXIT_FAILED = 1
DIRECTORY_OPTION = typer.Option(
    DEFAULT_DIRECTORY, "--dir", help="Folder of the services' data, logs and state."
)


@app.command("up")
def up(directory: Path = DIRECTORY_OPTION) -> None:
    """Start what is not running; print the export lines (eval "$(olist services up)")."""
    from harness.services import LocalServices, ServicesError

    services = LocalServices(directory)
    try:
        typer.echo("\n".join(services.exports(services.up())))
    except ServicesError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_FAILED) from error
    typer.echo(f"services running, state in {services.directory}", err=True)


@app.command("down")
def down(directory: Path = DIRECTORY_OPTION) -> None:
    """Stop every service; data stays in the folder for the next `up`."""
    from harness.services import LocalServices

    services = LocalServices(directory)
    stopped = services.down()
    typer.echo(f"stopped {', '.join(stopped) or 'nothing'} ({services.directory})", err=True)


@app.command("status")
def status(directory: Path = DIRECTORY_OPTION) -> None:
    """One line per service: running or not, process id, port, log."""
    from harness.services import SERVICES, LocalServices

    states = LocalServices(directory).states()
    all_running = True
    for name in SERVICES:
        state = states.get(name)
        running = state is not None and state.running()
        all_running &= running
        detail = "" if state is None else f" pid={state.pid} port={state.port} log={state.log}"
        typer.echo(f"{name} {'running' if running else 'stopped'}{detail}")
    if not all_running:
        raise typer.Exit(EXIT_FAILED)


@app.command("env")
def env(directory: Path = DIRECTORY_OPTION) -> None:
    """Print the export lines of the running services again (for another shell)."""
    from harness.services import LocalServices, ServicesError

    try:
        typer.echo("\n".join(LocalServices(directory).exports()))
    except ServicesError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_FAILED) from error
