"""The log line every process of the pipeline writes: ``ts=... level=... logger=... msg=...``.

One ``key=value`` line per record on stderr, the message last (it may hold spaces and its own
``key=value`` pairs, e.g. ``msg=batch done batch_id=3 valid=1000``). Operators' log queries
rely on this shape (``level=ERROR``, ``logger=streaming.job``): the API, the producer, the
streaming job, the ``olist`` command and the benchmarks all take it from here.
"""

from __future__ import annotations

import logging

LOG_FORMAT = "ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s"


def configure_logging(level: str) -> None:
    """Root logger to stderr in :data:`LOG_FORMAT` at ``level`` (a name: ``"INFO"``, ``"debug"``).

    Like :func:`logging.basicConfig`, does nothing when the root logger has handlers already.
    """
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT)
