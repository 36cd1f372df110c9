"""Refuse at start-up a deployment that cannot work on the chosen Spark master.

On a ``local[...]`` master the driver and executors share one host and one filesystem; on any
other (``spark://``, ``k8s://``, ``yarn``) executors run in other processes, normally on other
hosts, and must read the staged batches and read and write the checkpoint's state. A path on
the driver's disk then works only when it is a volume mounted at the same path everywhere (a
ReadWriteMany PVC, NFS), which the job cannot see for itself: ``OLIST_SHARED_FILESYSTEM=true``
says so. ``gs://`` locations need nothing shared; a ``gs://`` checkpoint needs Google's Cloud
Storage connector for Hadoop on the driver's and executors' classpath, which is checked.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from streaming.checkpoint import local_path, scheme_of

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

GCS_CONNECTOR = "com.google.cloud.bigdataoss:gcs-connector:3.1.7, classifier shaded"
"""The Cloud Storage connector for Hadoop this job documents (docs/operations/streaming.md)."""


EXECUTOR_VARIABLES = ("STORAGE_EMULATOR_HOST", "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT")
"""The driver's variables executors need too (the lake writer's Cloud Storage client runs in
tasks); a standalone Worker starts executors with its own environment, not the driver's."""


class DeploymentError(ValueError):
    """A configuration that cannot work on the chosen master; the message says what to change."""


def is_local_master(master: str) -> bool:
    """``local``, ``local[2]``, ``local[*]``, ``local[2,3]``: one JVM, the driver's host."""
    return master == "local" or master.startswith("local[")


def check_locations(master: str, checkpoint: str, staging: str, shared_filesystem: bool) -> None:
    """Refuse driver-local paths for the checkpoint or staging on a master with remote
    executors, unless they are declared shared."""
    if is_local_master(master) or shared_filesystem:
        return
    for what, location, setting in (
        ("checkpoint", checkpoint, "OLIST_CHECKPOINT_LOCATION"),
        ("staging location", staging, "OLIST_STAGING_LOCATION"),
    ):
        path = local_path(location)
        if path is not None:
            raise DeploymentError(
                f"the {what} {path} is a path on the driver's disk, but master {master!r} "
                "runs executors in other processes, normally on other hosts, which must read "
                f"it: set {setting} to gs://<bucket>/<path>, or mount a shared volume "
                "(ReadWriteMany) at this same path on the driver and every executor and set "
                "OLIST_SHARED_FILESYSTEM=true"
            )


def check_master_agrees(configured: str | None, running: str) -> None:
    """Under spark-submit the master is spark-submit's: refuse a different OLIST_SPARK_MASTER."""
    if configured is not None and configured != running:
        raise DeploymentError(
            f"OLIST_SPARK_MASTER={configured!r} but spark-submit started the job with master "
            f"{running!r}; pass --master {configured!r} to spark-submit or unset one of them"
        )


def check_checkpoint_filesystem(spark: SparkSession, checkpoint: str) -> None:
    """The session's Hadoop can open the checkpoint's scheme (the GCS connector for gs://)."""
    scheme = scheme_of(checkpoint)
    if scheme == "file":
        return
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    try:
        jvm.org.apache.hadoop.fs.FileSystem.getFileSystemClass(
            scheme, spark.sparkContext._jsc.hadoopConfiguration()
        )
    except Exception as error:  # py4j's Java exception: UnsupportedFileSystemException
        hint = (
            f" add the Cloud Storage connector for Hadoop ({GCS_CONNECTOR}) to the driver's and "
            "executors' classpath (spark.jars / the image's jars directory) and set "
            "spark.hadoop.fs.gs.impl=com.google.cloud.hadoop.fs.gcs.GoogleHadoopFileSystem"
            if scheme == "gs"
            else ""
        )
        raise DeploymentError(
            f"the checkpoint {checkpoint} needs a Hadoop filesystem for scheme {scheme!r}, "
            f"which this Spark does not have;{hint or ' use a path or gs://'}"
        ) from error


def executor_environment() -> dict[str, str]:
    """``spark.executorEnv.*`` for the variables of :data:`EXECUTOR_VARIABLES` that are set."""
    return {name: os.environ[name] for name in EXECUTOR_VARIABLES if os.environ.get(name)}


def prepare_locations(checkpoint: str, staging: str) -> None:
    """Create the directories of path locations (Spark and the source create the others)."""
    for location in (checkpoint, staging):
        path = local_path(location)
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
