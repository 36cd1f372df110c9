"""``PubSubDataSource``: Google Cloud Pub/Sub as a Spark Structured Streaming source.

Name ``pubsub``. Streaming only (``spark.readStream``); micro-batch and ``availableNow``
triggers. Options, output schema and delivery guarantees: ``docs/connectors/pubsub.md``.

Example::

    from connectors.pubsub import PubSubDataSource

    spark.dataSource.register(PubSubDataSource)
    events = (
        spark.readStream.format("pubsub")
        .option("subscription", "projects/my-project/subscriptions/orders")
        .option("stagingLocation", "/mnt/checkpoints/orders/pubsub-staging")
        .option("maxRecordsPerTrigger", "500000")
        .load()
    )
"""

from __future__ import annotations

from pyspark.sql.datasource import DataSource, DataSourceStreamReader
from pyspark.sql.types import StructType

from connectors.pubsub.decoding import load_decoder, output_schema
from connectors.pubsub.errors import PubSubOptionError
from connectors.pubsub.options import PubSubOptions, parse_options
from connectors.pubsub.reader import PubSubStreamReader
from connectors.pubsub.records import OUTPUT_SCHEMA


def source_schema(options: PubSubOptions) -> StructType:
    """:data:`OUTPUT_SCHEMA`, plus the ``decoded`` column when option ``decoder`` is set."""
    decoder = load_decoder(options.decoder) if options.decoder else None
    return output_schema(OUTPUT_SCHEMA, decoder, options.decoded_row_attributes)


class PubSubDataSource(DataSource):
    """Read a Pub/Sub subscription as a stream of rows (one per event, or per message).

    Options are checked when the stream is defined (``.load()``), each error naming its
    option. The schema is fixed (:data:`connectors.pubsub.records.OUTPUT_SCHEMA`); parse
    ``payload`` with ``from_json`` downstream, or name a ``decoder`` (see
    :mod:`connectors.pubsub.decoding`) to get typed columns straight from the source.
    """

    @classmethod
    def name(cls) -> str:
        return "pubsub"

    def schema(self) -> StructType:
        return source_schema(parse_options(self.options))

    def streamReader(self, schema: StructType) -> DataSourceStreamReader:
        """Runs in the driver's long-lived Python process of the query."""
        options = parse_options(self.options)
        expected = source_schema(options)
        if schema != expected:
            raise PubSubOptionError(
                "schema",
                f"the pubsub source has a fixed schema {expected.simpleString()}, "
                f"found {schema.simpleString()}; drop .schema(...) from the reader",
            )
        return PubSubStreamReader(options)
