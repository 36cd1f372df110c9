"""Exceptions raised by the Pub/Sub source.

::

    PubSubSourceError
    ├── PubSubOptionError      an option is missing or malformed (names the option)
    ├── OffsetError            an offset handed back by Spark is not one this source wrote
    ├── StagingError           a staged batch is missing, incomplete or unreadable
    └── SubscriberError        a Pub/Sub call failed for a reason other than a stale ack id
"""

from __future__ import annotations


class PubSubSourceError(Exception):
    """Base class of every error raised by the Pub/Sub source."""


class PubSubOptionError(PubSubSourceError, ValueError):
    """An option of ``spark.readStream.format("pubsub")`` is missing or malformed."""

    def __init__(self, option: str, problem: str) -> None:
        super().__init__(f"option '{option}': {problem}")
        self.option = option


class OffsetError(PubSubSourceError, ValueError):
    """An offset does not have the shape ``{"batch": <non-negative int>}``."""


class StagingError(PubSubSourceError):
    """A staged batch cannot be found or read where the offset log says it must be."""


class SubscriberError(PubSubSourceError):
    """A pull, acknowledge or modifyAckDeadline request failed."""
