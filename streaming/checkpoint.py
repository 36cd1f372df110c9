"""The job's storage locations (checkpoint, staging) as Hadoop URIs, read through Hadoop.

A location is a filesystem path or a URI (``gs://bucket/path``, ``file:/path``). The driver
never opens the checkpoint with Python's file functions: on a cluster it may live on Cloud
Storage (the connector jar) or a shared volume, and Spark reads and writes it through
Hadoop's ``FileSystem`` API; :func:`read_query_id` does the same, through the session's JVM.
"""

from __future__ import annotations

import json
import posixpath
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):")


def scheme_of(location: str) -> str:
    """``gs``, ``file``, ... of a URI; ``file`` for a plain path."""
    match = _SCHEME.match(location)
    return match["scheme"].lower() if match else "file"


def local_path(location: str) -> Path | None:
    """The filesystem path of a ``file:`` URI or plain path; None for any other scheme."""
    if scheme_of(location) != "file":
        return None
    return Path(re.sub(r"^file:(//)?", "", location))


def sibling(location: str, name: str) -> str:
    """``name`` next to ``location``: ``gs://b/a/checkpoint`` -> ``gs://b/a/<name>``."""
    path = local_path(location)
    if path is not None:
        return str(path.parent / name)
    match = re.match(r"^(?P<root>[A-Za-z][A-Za-z0-9+.-]*://[^/]+)(?P<path>/.*)?$", location)
    if match is None:
        raise ValueError(f"{location!r} is neither a path nor a URI such as gs://bucket/path")
    parent = posixpath.dirname((match["path"] or "/").rstrip("/"))
    return f"{match['root']}{posixpath.join(parent, name)}"


def read_text(spark: SparkSession, location: str) -> str:
    """The content of one file at ``location`` (any Hadoop filesystem the session knows)."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    hadoop_path = jvm.org.apache.hadoop.fs.Path(location)
    filesystem = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    stream = filesystem.open(hadoop_path)
    try:
        data = jvm.org.apache.commons.io.IOUtils.toByteArray(stream)
    finally:
        stream.close()
    return bytes(data).decode()


def read_query_id(spark: SparkSession, checkpoint: str) -> str:
    """The query id Spark keeps in ``<checkpoint>/metadata`` (stable across restarts)."""
    metadata = read_text(spark, f"{checkpoint.rstrip('/')}/metadata").splitlines()[0]
    return str(json.loads(metadata)["id"])
