"""Settings of the analytics commands (``export-dimensions``, ``views``, ``dashboard``).

The same variables as the streaming job for the project, lake bucket and dataset, so one
environment configures both; the Cloud Storage emulator is reached through the client
convention ``STORAGE_EMULATOR_HOST``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from schemas.log_format import LoggingSettings


class AnalyticsSettings(LoggingSettings):
    """Settings of one analytics command."""

    model_config = SettingsConfigDict(env_prefix="OLIST_", env_file=".env", extra="ignore")

    database_url: SecretStr = Field(
        default=SecretStr("postgresql://olist@127.0.0.1:5432/olist"),
        description="PostgreSQL URL of the source database the dimensions are copied from "
        "(a secret: it may hold the password).",
    )
    gcp_project: str = Field(
        default="olist-local", description="Project of the lake bucket and the dataset."
    )
    lake_bucket: str = Field(default="olist-lake", description="Cloud Storage bucket of the lake.")
    lake_dimensions_prefix: str = Field(
        default="dimensions",
        description="Object prefix of the dimension files: <prefix>/<table>/<table>.parquet.",
    )
    bigquery_api_endpoint: str | None = Field(
        default=None, description="BigQuery REST endpoint of an emulator; unset = Google."
    )
    bigquery_dataset: str = Field(
        default="olist", description="BigQuery dataset of the events, dimensions and views."
    )
    bigquery_location: str = Field(default="US", description="BigQuery dataset location.")
    dashboard_refresh_seconds: float = Field(
        default=60.0,
        gt=0,
        description="`olist dashboard --serve`: seconds between two rebuilds from BigQuery.",
    )
    dashboard_dir: Path = Field(
        default=Path(".local/dashboard"),
        description="`olist dashboard`: folder of the built index.html (`--out` overrides).",
    )
    dashboard_host: str = Field(
        default="127.0.0.1",
        description="`olist dashboard --serve`: address to listen on (0.0.0.0 in a container).",
    )
    dashboard_port: int = Field(
        default=8050,
        ge=1,
        le=65535,
        description="`olist dashboard --serve`: HTTP port (`--port` overrides).",
    )
