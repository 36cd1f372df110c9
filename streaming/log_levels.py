"""How much Spark and Py4J log beside the job's own lines.

Under ``spark-submit`` Spark logs at INFO (hundreds of lines per minute, every plan it
compiles), and Py4J logs every call at INFO through the job's own root logger. Unless the job
runs at ``OLIST_LOG_LEVEL=DEBUG``, both are turned down to warnings, so the job's lines, and a
fatal error's single line, are what an operator reads.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def quiet_spark(spark: SparkSession, log_level: str) -> None:
    """Spark's JVM logs at WARN and Py4J at WARNING, unless ``log_level`` is DEBUG."""
    if log_level.upper() == "DEBUG":
        spark.sparkContext.setLogLevel("INFO")
        return
    spark.sparkContext.setLogLevel("WARN")
    logging.getLogger("py4j").setLevel(logging.WARNING)
