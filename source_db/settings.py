"""Where the source database is: :class:`DatabaseSettings`, from ``OLIST_DATABASE_URL``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from schemas.log_format import LoggingSettings


class DatabaseSettings(LoggingSettings):
    """Where the Olist source database is. Used by ``olist db|load-csv|generate|simulate``,
    and extended by the API's settings (:class:`source_api.settings.ApiSettings`)."""

    model_config = SettingsConfigDict(env_prefix="OLIST_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="postgresql://olist@127.0.0.1:5432/olist",
        description="PostgreSQL DSN of the source database (the password is redacted in logs).",
    )
