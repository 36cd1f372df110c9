"""Start-up refusals of configurations that cannot work on the chosen master, and locations
read through Hadoop (streaming.deployment, streaming.checkpoint)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from streaming.checkpoint import local_path, read_query_id, scheme_of, sibling
from streaming.deployment import (
    DeploymentError,
    check_checkpoint_filesystem,
    check_locations,
    check_master_agrees,
    is_local_master,
)
from streaming.settings import StreamSettings


@pytest.mark.parametrize("master", ["local", "local[2]", "local[*]"])
def test_a_local_master_takes_any_location(master: str) -> None:
    assert is_local_master(master)
    check_locations(master, "/data/checkpoint", "/data/staging", shared_filesystem=False)


@pytest.mark.parametrize(
    ("checkpoint", "staging", "refused"),
    [
        ("/data/checkpoint", "gs://bucket/staging", "checkpoint /data/checkpoint"),
        ("gs://bucket/checkpoint", "/data/staging", "staging location /data/staging"),
        ("file:///data/checkpoint", "gs://bucket/staging", "checkpoint /data/checkpoint"),
    ],
)
def test_a_remote_master_refuses_driver_paths_unless_declared_shared(
    checkpoint: str, staging: str, refused: str
) -> None:
    master = "spark://10.0.0.5:7077"
    with pytest.raises(DeploymentError, match=refused) as error:
        check_locations(master, checkpoint, staging, shared_filesystem=False)
    assert "OLIST_SHARED_FILESYSTEM=true" in str(error.value)
    check_locations(master, checkpoint, staging, shared_filesystem=True)
    check_locations(master, "gs://bucket/checkpoint", "gs://bucket/staging", False)


def test_spark_submit_s_master_must_agree_with_the_setting() -> None:
    check_master_agrees(None, "spark://h:7077")
    check_master_agrees("spark://h:7077", "spark://h:7077")
    with pytest.raises(DeploymentError, match="pass --master 'local\\[2\\]' to spark-submit"):
        check_master_agrees("local[2]", "spark://h:7077")


def test_locations_are_uris_or_paths() -> None:
    assert (scheme_of("gs://b/c"), scheme_of("/a/b"), scheme_of("file:/a")) == (
        "gs",
        "file",
        "file",
    )
    assert local_path("file:///a/b") == Path("/a/b")
    assert local_path("gs://b/c") is None
    assert sibling("gs://bucket/olist/checkpoint/", "pubsub-staging") == (
        "gs://bucket/olist/pubsub-staging"
    )
    assert sibling("gs://bucket/checkpoint", "s") == "gs://bucket/s"
    assert sibling("/data/checkpoint", "s") == "/data/s"


def test_staging_defaults_next_to_the_checkpoint_whichever_its_scheme() -> None:
    assert StreamSettings().resolved_staging_location == str(
        Path.cwd() / ".local/stream/pubsub-staging"
    )
    on_gcs = StreamSettings(checkpoint_location="gs://bucket/olist/checkpoint")
    assert on_gcs.resolved_checkpoint_location == "gs://bucket/olist/checkpoint"
    assert on_gcs.resolved_staging_location == "gs://bucket/olist/pubsub-staging"
    chosen = StreamSettings(staging_location="gs://other/staging", staging_dir=Path("/x"))
    assert chosen.resolved_staging_location == "gs://other/staging"


def test_the_query_id_is_read_through_hadoop(spark: Any, tmp_path: Path) -> None:
    (tmp_path / "metadata").write_text(json.dumps({"id": "5b1d-query"}) + "\n")
    assert read_query_id(spark, f"file://{tmp_path}") == "5b1d-query"
    assert read_query_id(spark, str(tmp_path)) == "5b1d-query"


def test_a_gs_checkpoint_without_the_connector_is_refused_naming_it(spark: Any) -> None:
    check_checkpoint_filesystem(spark, "/data/checkpoint")
    with pytest.raises(DeploymentError, match=r"gcs-connector:3\.1\.7.*fs\.gs\.impl"):
        check_checkpoint_filesystem(spark, "gs://bucket/checkpoint")
