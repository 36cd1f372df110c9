"""The producer's exception tree: retry code checks these types, never messages.

::

    ProducerError
    ├── TransientError              worth retrying: the same call can succeed later
    │   ├── SourceUnavailable       API unreachable, 5xx or 429 (carries Retry-After)
    │   └── PublishUnavailable      Pub/Sub unreachable or overloaded
    └── TerminalError               retrying cannot help: stop, persist, exit non-zero
        ├── ConfigurationError      settings that cannot work (bad URL, bad cursor location)
        ├── SourceRejected          the API refused the request (401, 422, other 4xx)
        ├── SourceProtocolError     the API answered something that is not the contract
        │   └── ResponseTooLarge    an answer above OLIST_API_MAX_RESPONSE_BYTES
        ├── CursorAheadOfSource     the cursor is past the source's head (database rebuilt)
        ├── SourceRetriesExhausted  the API stayed unavailable through every attempt
        ├── PublishRejected         Pub/Sub refused (topic missing, permission, bad request)
        ├── PublishRetriesExhausted Pub/Sub stayed unavailable through the publish timeout
        └── CursorStoreError        the cursor cannot be read or written safely
"""

from __future__ import annotations


class ProducerError(Exception):
    """Base class of every error the producer raises on purpose."""


class TransientError(ProducerError):
    """A failure that a later attempt of the same call can overcome."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        """Seconds the server asked us to wait before the next attempt, if it said so."""


class TerminalError(ProducerError):
    """A failure that retrying cannot fix; the daemon stops with a non-zero exit."""


class SourceUnavailable(TransientError):
    """The source API could not be reached, or answered 5xx / 429."""


class PublishUnavailable(TransientError):
    """Pub/Sub could not be reached or asked us to slow down."""


class ConfigurationError(TerminalError):
    """The producer's settings cannot work as given."""


class SourceRejected(TerminalError):
    """The source API refused the request (authentication, bad cursor, other 4xx)."""


class SourceProtocolError(TerminalError):
    """The source API answered with a body that does not follow its contract."""


class ResponseTooLarge(SourceProtocolError):
    """The API's answer is larger than the producer accepts (OLIST_API_MAX_RESPONSE_BYTES)."""


class CursorAheadOfSource(TerminalError):
    """The persisted cursor is past the newest event the source holds."""


class SourceRetriesExhausted(TerminalError):
    """The source API stayed unavailable for every attempt the retry policy allows."""


class PublishRejected(TerminalError):
    """Pub/Sub refused a publish for a reason retrying cannot fix."""


class CursorStoreError(TerminalError):
    """The cursor could not be loaded or persisted safely."""


class PublishRetriesExhausted(TerminalError):
    """Pub/Sub stayed unavailable for the whole publish retry budget."""
