"""Where the source database is: :class:`DatabaseSettings`, from ``OLIST_DATABASE_URL``."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from schemas.log_format import LoggingSettings


class DatabaseSettings(LoggingSettings):
    """Where the Olist source database is. Used by ``olist db|load-csv|generate|simulate``,
    and extended by the API's settings (:class:`source_api.settings.ApiSettings`)."""

    model_config = SettingsConfigDict(env_prefix="OLIST_", env_file=".env", extra="ignore")

    database_url: SecretStr = Field(
        default=SecretStr("postgresql://olist@127.0.0.1:5432/olist"),
        description="PostgreSQL DSN of the source database, a secret: URL, ?password= and "
        "key=value forms are redacted wherever they are printed. TLS through libpq's "
        "parameters, e.g. ?sslmode=verify-full&sslrootcert=/path/ca.pem.",
    )

    @field_validator("database_url")
    @classmethod
    def _url_form(cls, value: SecretStr) -> SecretStr:
        dsn = value.get_secret_value()
        if not dsn.startswith(("postgresql://", "postgres://")):
            from source_db.connection import redact_dsn

            raise ValueError(
                f"OLIST_DATABASE_URL must be a postgresql:// URL, found {redact_dsn(dsn)!r}: "
                "write a key=value DSN as postgresql://user@host:port/dbname?param=value"
            )
        return value

    @property
    def dsn(self) -> str:
        """The DSN itself, for the driver only (print :func:`source_db.connection.redact_dsn`)."""
        return self.database_url.get_secret_value()
