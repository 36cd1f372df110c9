"""``PubSubDataSource``: Google Cloud Pub/Sub as a Spark Structured Streaming source.

Its class docstring is the user manual: options with their defaults and a runnable example.
Output schema and delivery guarantees: ``docs/connectors/pubsub.md``.
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

    Name: ``pubsub``. Streaming only (``spark.readStream``), micro-batch and ``availableNow``
    triggers; register it once per session with ``spark.dataSource.register``.

    The schema is fixed (:data:`connectors.pubsub.records.OUTPUT_SCHEMA`); parse ``payload``
    with ``from_json`` downstream, or name a ``decoder`` (see :mod:`connectors.pubsub.decoding`)
    to get typed columns straight from the source. Options are checked when the stream is
    defined (``.load()``), each error naming its option; unknown options are refused. Names
    are case-insensitive; details in ``docs/connectors/pubsub.md``.

    ========================  =====  ======================  ======================================
    Option                    Type   Default                 Meaning
    ========================  =====  ======================  ======================================
    subscription              str    required                ``projects/<p>/subscriptions/<name>``,
                                                             or a bare name with ``project``
    project                   str    from subscription       project of a bare subscription name
    stagingLocation           str    required                where batches are staged, one per
                                                             query: a directory at the same path on
                                                             every executor, or gs://bucket/prefix
    stagingEndpoint           str    $STORAGE_EMULATOR_HOST  URL of a Cloud Storage emulator for a
                                                             gs:// stagingLocation
    stagingTimeoutSeconds     float  60                      timeout of one Cloud Storage request
    stagingRetrySeconds       float  300                     retry failed Cloud Storage requests
                                                             with back-off for this long in all
    emulatorHost              str    $PUBSUB_EMULATOR_HOST   ``host:port`` of a Pub/Sub emulator
    maxRecordsPerTrigger      int    1000000                 rows per micro-batch at most (whole
                                                             messages; a bigger one goes alone)
    maxBytesPerTrigger        int    1073741824              payload bytes per micro-batch at most
                                                             (as pulled; a bigger message goes
                                                             alone)
    numPartitions             int    CPUs of the driver      Spark tasks per micro-batch
    unpack                    str    envelope                ``envelope``: a row per event of an
                                                             envelope; ``none``: a row per message
    decoder                   str    none                    ``package.module:name`` of a payload
                                                             decoder; adds the ``decoded`` column
    decodedRowAttributes      bool   true                    ``false``: ``attributes`` is null on
                                                             decoded rows (needs ``decoder``)
    ackDeadlineSeconds        int    60                      lease of pulled messages, renewed
                                                             every third of it (10-600)
    maxLeaseSeconds           int    3600                    stop renewing a lease after this long
                                                             (Pub/Sub then redelivers)
    pullMaxMessages           int    1000                    messages per Pull request at most
                                                             (1-1000; fewer when they are big)
    pullConcurrency           int    8                       Pull requests in flight at once (1-64)
    pullWaitSeconds           float  0                       ``0``: a pull answers at once; more: it
                                                             waits up to this long for messages
    pullTimeoutSeconds        float  30                      deadline of an immediate pull
    maxPullSecondsPerTrigger  float  20                      stop pulling for a micro-batch after
                                                             this long (not with availableNow)
    ========================  =====  ======================  ======================================

    Example, against the Pub/Sub emulator (``gcloud beta emulators pubsub start``, then
    ``PUBSUB_EMULATOR_HOST`` set for the admin clients)::

        import os
        import sys
        import tempfile

        from google.cloud import pubsub_v1
        from pyspark.sql import SparkSession

        from connectors.pubsub import PubSubDataSource
        from schemas.envelope import encode_events

        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        topic = publisher.create_topic(name="projects/demo-project/topics/orders").name
        subscription = subscriber.create_subscription(
            name="projects/demo-project/subscriptions/orders-spark", topic=topic
        ).name
        subscriber.close()
        for first in (0, 10, 20):  # three messages of ten events each
            events = [b'{"order_id": "o-%d"}' % i for i in range(first, first + 10)]
            message = encode_events(events, first, first + 9)
            publisher.publish(topic, message.data, **message.attributes).result()
        publisher.stop()

        spark = SparkSession.builder.master("local[2]").getOrCreate()
        spark.dataSource.register(PubSubDataSource)
        workdir = tempfile.mkdtemp()
        query = (
            spark.readStream.format("pubsub")
            .option("subscription", subscription)
            .option("emulatorHost", os.environ["PUBSUB_EMULATOR_HOST"])
            .option("stagingLocation", f"{workdir}/pubsub-staging")
            .option("maxRecordsPerTrigger", "20")
            .load()
            .writeStream.format("memory")
            .queryName("orders")
            .option("checkpointLocation", f"{workdir}/checkpoint")
            .trigger(availableNow=True)
            .start()
        )
        query.awaitTermination()
        print(spark.table("orders").count(), "rows")  # 30 rows, in two micro-batches
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
