"""Response models of the source API, built on :class:`schemas.OrderEvent`.

They document the responses in OpenAPI and let clients validate what they receive; the events
route itself splices the pre-rendered JSON of the event feed (:mod:`source_api.queries`) into
its answer and never builds these objects on the hot path. Tests check that every served
event validates.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas import OrderEvent


class OrderEventPage(BaseModel):
    """One page of the order-item event feed."""

    model_config = ConfigDict(extra="forbid", title="OrderEventPage")

    events: list[OrderEvent] = Field(
        description="Events in increasing source_sequence order, strictly after the cursor."
    )
    next_cursor: str = Field(
        description="Opaque cursor to pass as 'after' to read on; equals the cursor given "
        "(or the start cursor) when the page is empty."
    )
    has_more: bool = Field(
        description="Whether more events existed after the last one returned, at read time."
    )
    head_sequence: int = Field(
        ge=0, description="Largest source_sequence in the source at read time (0 when empty)."
    )


class ErrorBody(BaseModel):
    """Body of every error answer."""

    error: str = Field(description="Stable error code, e.g. invalid_cursor, unauthorized.")
    message: str = Field(description="What was expected, what was found and what to do.")


class HealthStatus(BaseModel):
    """Body of /healthz and /readyz."""

    status: Literal["ok", "unavailable"]
    message: str | None = Field(default=None, description="Why the check failed.")
