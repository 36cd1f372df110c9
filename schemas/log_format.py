"""The log line every process of the pipeline writes: ``ts=... level=... logger=... msg=...``.

One ``key=value`` line per record on stderr, the message last (it may hold spaces and its own
``key=value`` pairs, e.g. ``msg=batch done batch_id=3 valid=1000``). Operators' log queries
rely on this shape (``level=ERROR``, ``logger=streaming.job``): the API, the producer, the
streaming job, the ``olist`` command and the benchmarks all take it from here, and every
process's settings class inherits its level (``OLIST_LOG_LEVEL``) from :class:`LoggingSettings`.
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOG_FORMAT = "ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class LoggingSettings(BaseSettings):
    """``OLIST_LOG_LEVEL``: the part of every process's settings that says how much it logs."""

    model_config = SettingsConfigDict(env_prefix="OLIST_", env_file=".env", extra="ignore")

    log_level: LogLevel = Field(
        default="INFO",
        description="Logging level of the process: DEBUG, INFO, WARNING, ERROR or CRITICAL "
        "(any case); `olist --log-level` overrides it for one command.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value


def configure_logging(level: str) -> None:
    """Root logger to stderr in :data:`LOG_FORMAT` at ``level`` (a name: ``"INFO"``, ``"debug"``).

    Like :func:`logging.basicConfig`, does nothing when the root logger has handlers already.
    """
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT)
