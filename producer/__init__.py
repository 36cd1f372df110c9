"""Producer daemon: reads the source API and publishes the events to Pub/Sub, at least once.

Entry points: ``olist produce`` (:func:`producer.daemon.run_producer`) and ``olist pubsub init``
(:func:`producer.pubsub_admin.init_pubsub`). See docs/design/producer.md for the guarantees.
The package itself imports only light modules, so ``olist --help`` does not load gRPC.
"""

from producer.confirmation import ConfirmationTracker, Cursor
from producer.errors import ProducerError, TerminalError, TransientError
from producer.settings import ProducerSettings, PubSubSettings

__all__ = [
    "ConfirmationTracker",
    "Cursor",
    "ProducerError",
    "ProducerSettings",
    "PubSubSettings",
    "TerminalError",
    "TransientError",
]
