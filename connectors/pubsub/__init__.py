"""Google Cloud Pub/Sub source for Spark's Python Data Source API (format ``pubsub``).

Register it once per Spark session, then read with ``spark.readStream.format("pubsub")``::

    from connectors.pubsub import PubSubDataSource
    spark.dataSource.register(PubSubDataSource)

Options: the docstring of :class:`PubSubDataSource`. Usage and guarantees:
``docs/connectors/pubsub.md``.
"""

from connectors.pubsub.errors import (
    OffsetError,
    PubSubOptionError,
    PubSubSourceError,
    StagingError,
    SubscriberError,
)
from connectors.pubsub.offsets import BatchOffset
from connectors.pubsub.options import PubSubOptions, parse_options
from connectors.pubsub.records import OUTPUT_SCHEMA
from connectors.pubsub.source import PubSubDataSource
from connectors.pubsub.staging import source_stats_path

__all__ = [
    "OUTPUT_SCHEMA",
    "BatchOffset",
    "OffsetError",
    "PubSubDataSource",
    "PubSubOptionError",
    "PubSubOptions",
    "PubSubSourceError",
    "StagingError",
    "SubscriberError",
    "parse_options",
    "source_stats_path",
]
