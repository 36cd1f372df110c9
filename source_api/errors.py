"""Errors the source API answers with, each mapped to one HTTP status and a JSON body.

Hierarchy::

    ApiError                      base: carries ``status_code``, ``error`` (a stable code)
    ├── InvalidRequest            422: a parameter is malformed or out of range
    │   ├── InvalidCursor         422: ``after`` is not a cursor this API issued
    │   └── InvalidLimit          422: ``limit`` is outside what this deployment accepts
    ├── Unauthorized              401: /v1 called without the right ``X-API-Key``
    └── DatabaseNotInitialised    503: the Olist schema is missing (run ``olist db init``)

    source_db.connection.DatabaseUnavailable
                                  503 ``database_unavailable``: PostgreSQL did not answer
                                  (transient: retry later); shared with the database tools,
                                  so not an ApiError: an exception handler of the app answers it

The JSON body is always ``{"error": <code>, "message": <sentence>}``; the message says what was
expected, what was found and what to do. Bodies of 401 answers never carry data.
"""

from __future__ import annotations


class ApiError(Exception):
    """An error answered to the client as ``{"error": ..., "message": ...}``."""

    status_code: int = 500
    error: str = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, str]:
        """The JSON body of the answer."""
        return {"error": self.error, "message": self.message}


class InvalidRequest(ApiError):
    """A query parameter is malformed or out of range (terminal: retrying does not help)."""

    status_code = 422
    error = "invalid_request"


class InvalidCursor(InvalidRequest):
    """The ``after`` cursor was not issued by this API, or was altered."""

    error = "invalid_cursor"


class InvalidLimit(InvalidRequest):
    """The ``limit`` is outside the range this deployment accepts."""

    error = "invalid_limit"


class Unauthorized(ApiError):
    """The request lacks the API key, or carries a wrong one."""

    status_code = 401
    error = "unauthorized"


class DatabaseNotInitialised(ApiError):
    """The database answers but has no Olist schema (terminal until ``olist db init`` runs)."""

    status_code = 503
    error = "database_not_initialised"
