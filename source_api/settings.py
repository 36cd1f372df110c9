"""Configuration of the ``olist api`` process, from ``OLIST_*`` variables."""

from __future__ import annotations

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from source_db.settings import DatabaseSettings


class ApiSettings(DatabaseSettings):
    """Settings of the ``olist api`` process: ``OLIST_DATABASE_URL`` and ``OLIST_API_*``."""

    api_host: str = Field(default="127.0.0.1", description="Interface the API listens on.")
    api_port: int = Field(default=8000, ge=1, le=65535, description="Port the API listens on.")
    api_key: SecretStr | None = Field(
        default=None,
        description="The key clients send in the X-API-Key header (or as `Authorization: "
        "Bearer <key>`), compared in constant time, never logged; required unless "
        "OLIST_API_AUTH_DISABLED is true.",
    )
    api_key_previous: SecretStr | None = Field(
        default=None,
        description="A second key accepted during a rotation: set the new key as "
        "OLIST_API_KEY and the old one here, move the clients to the new key, then unset "
        "this (docs/operations/security.md).",
    )
    api_auth_disabled: bool = Field(
        default=False,
        description="Serve every route without a key: for local development only (the API "
        "logs a warning at start).",
    )
    api_auth_metrics: bool = Field(
        default=True,
        description="/metrics requires the key too (Prometheus sends it as a bearer token).",
    )
    api_auth_docs: bool = Field(
        default=True,
        description="/docs, /redoc and /openapi.json require the key too.",
    )
    api_pool_min_size: int = Field(
        default=2, ge=1, description="asyncpg pool minimum size (at most the maximum)."
    )
    api_pool_max_size: int = Field(
        default=10,
        ge=1,
        description="asyncpg pool maximum size; read-ahead needs 2 connections per sequential "
        "reader.",
    )
    api_default_limit: int = Field(
        default=1000, ge=1, le=5000, description="Page size when a request gives no limit."
    )
    api_max_limit: int = Field(
        default=5000,
        ge=1,
        le=5000,
        description="Largest page size a request may ask for (at least the default).",
    )
    api_command_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a page query may run before it is cancelled (the request then "
        "gets a 503).",
    )
    api_ready_timeout: float = Field(
        default=2.0, gt=0, description="Seconds /readyz waits for `SELECT 1` to answer."
    )
    api_shutdown_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a SIGTERM waits for open requests and pool connections to finish.",
    )
    api_read_ahead_pages: int = Field(
        default=2,
        ge=0,
        le=16,
        description="Pages read ahead for sequential readers (0 disables read-ahead).",
    )
    api_feed_refresh_interval: float = Field(
        default=0.2,
        gt=0,
        le=60,
        description="Seconds the feed refresher sleeps once the event feed has caught up "
        "(0 < value <= 60).",
    )
    api_feed_refresh_rows: int = Field(
        default=10_000,
        ge=1,
        le=1_000_000,
        description="Events the feed refresher renders per transaction (it loops while full).",
    )
    api_access_log: bool = Field(default=False, description="Log one line per HTTP request.")

    @field_validator("api_key", "api_key_previous")
    @classmethod
    def _refuse_empty_api_key(
        cls, value: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        # An empty key would lock every client out (an empty header counts as missing).
        if value is not None and not value.get_secret_value():
            variable = f"OLIST_{(info.field_name or 'api_key').upper()}"
            raise ValueError(
                f"{variable} is set but empty: set the key clients must send in X-API-Key, "
                "or unset the variable"
            )
        return value

    @property
    def api_keys(self) -> tuple[SecretStr, ...]:
        """The keys a request may carry: the current one, then the previous one if set."""
        return tuple(key for key in (self.api_key, self.api_key_previous) if key is not None)

    @model_validator(mode="after")
    def _check_auth(self) -> ApiSettings:
        if self.api_auth_disabled and self.api_keys:
            raise ValueError(
                "OLIST_API_AUTH_DISABLED is true but an API key is set: unset the key to serve "
                "without authentication, or unset OLIST_API_AUTH_DISABLED to require it"
            )
        if not self.api_auth_disabled and self.api_key is None:
            raise ValueError(
                "OLIST_API_KEY is not set: the API requires a key by default; set OLIST_API_KEY "
                "(and give the producer the same key), or set OLIST_API_AUTH_DISABLED=true for "
                "local development"
                + (" (OLIST_API_KEY_PREVIOUS alone is not enough)" if self.api_key_previous else "")
            )
        return self

    @model_validator(mode="after")
    def _check_ranges(self) -> ApiSettings:
        if self.api_default_limit > self.api_max_limit:
            raise ValueError(
                f"OLIST_API_DEFAULT_LIMIT ({self.api_default_limit}) is above "
                f"OLIST_API_MAX_LIMIT ({self.api_max_limit}): every request without a limit "
                "would be refused; lower the default or raise the maximum"
            )
        if self.api_pool_min_size > self.api_pool_max_size:
            raise ValueError(
                f"OLIST_API_POOL_MIN_SIZE ({self.api_pool_min_size}) is above "
                f"OLIST_API_POOL_MAX_SIZE ({self.api_pool_max_size}); make min <= max"
            )
        return self
