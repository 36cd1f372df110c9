"""Run the source API under uvicorn from :class:`ApiSettings` (``olist api``, or
``python -m source_api.server``).

uvicorn handles SIGTERM/SIGINT: it stops accepting connections, lets open requests finish
(up to OLIST_API_SHUTDOWN_TIMEOUT seconds) and runs the app's lifespan shutdown, which closes
the database pool.
"""

from __future__ import annotations

import asyncio

import uvicorn

from schemas.log_format import configure_logging
from source_api.app import create_app
from source_api.settings import ApiSettings
from source_db.connection import connect


async def check_database(settings: ApiSettings) -> None:
    """Open and close one connection: raises ``DatabaseUnavailable`` in one clear sentence.

    Run before uvicorn starts, so an unreachable database is one log line and an exit code,
    not the traceback uvicorn prints when the app's startup fails.
    """
    await (await connect(settings.dsn)).close()


def serve(settings: ApiSettings | None = None) -> None:
    """Serve until SIGTERM or SIGINT; return after a clean shutdown."""
    settings = settings or ApiSettings()
    configure_logging(settings.log_level)  # a no-op when the root logger is configured
    asyncio.run(check_database(settings))
    config = uvicorn.Config(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        access_log=settings.api_access_log,
        log_config=None,  # keep the root logger's key=value format
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=int(settings.api_shutdown_timeout),
        server_header=False,
    )
    uvicorn.Server(config).run()


EXIT_BAD_SETTINGS = 2
EXIT_DATABASE_UNAVAILABLE = 3


def main() -> int:
    """``olist api`` / ``python -m source_api.server``: a fatal start is one ERROR line + a code.

    2: invalid settings (e.g. no ``OLIST_API_KEY``); 3: the database does not answer at start.
    """
    import logging

    from pydantic import ValidationError

    from source_db.connection import DatabaseUnavailable

    log = logging.getLogger("source_api")
    try:
        settings = ApiSettings()
    except ValidationError as error:
        configure_logging("INFO")
        problems = "; ".join(str(problem["msg"]) for problem in error.errors())
        log.error("api cannot start: invalid configuration: %s", problems)
        return EXIT_BAD_SETTINGS
    try:
        serve(settings)
    except DatabaseUnavailable as error:
        log.error("api cannot start: %s", error)
        return EXIT_DATABASE_UNAVAILABLE
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
