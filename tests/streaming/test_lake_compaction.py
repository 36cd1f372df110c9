"""Lake compaction against fake-gcs-server: one object per date, manifests still valid."""

from __future__ import annotations

import io
import json

import pyarrow.parquet as pq

from emulators.gcs import FakeGcsServer
from streaming.lake_compaction import LakeCompactor
from streaming.lake_writer import LakeWriter
from streaming.partition_stream import write_parts
from tests.fixtures.warehouse_rows import event_version, events_table


def _listing(gcs_server: FakeGcsServer, bucket: str) -> dict[str, list[str]]:
    """Each partition's data objects."""
    partitions: dict[str, list[str]] = {}
    for blob in gcs_server.storage_client().list_blobs(bucket, prefix="events/purchase_date="):
        partition, name = blob.name.split("/")[1:]
        partitions.setdefault(partition, []).append(name)
    return partitions


def test_compaction_leaves_one_object_per_date_and_a_replay_cannot_delete_it(
    gcs_server: FakeGcsServer, gcs_bucket: str
) -> None:
    client = gcs_server.storage_client()
    writer = LakeWriter(client, gcs_bucket, "events", "purchase_date")
    # Three batches of query A (two tasks each), one of query B (one task): one purchase date.
    for query, batch in [("a", 0), ("a", 1), ("a", 2), ("b", 0)]:
        rows = [event_version(item, item) for item in range(batch * 10, batch * 10 + 10)]
        if query == "b":
            rows = [event_version(item, item) for item in range(100, 105)]
        parts = write_parts(writer, events_table(rows[:5]), query, batch, task=0)
        parts += write_parts(writer, events_table(rows[5:]), query, batch, task=1)
        writer.finish_batch(parts, query, batch)
    (partition,) = _listing(gcs_server, gcs_bucket)
    assert len(_listing(gcs_server, gcs_bucket)[partition]) == 7

    summary = LakeCompactor(client, gcs_bucket, "events").compact()
    # Batches a/0 and a/1 are committed (a/2 exists); a/2 and b/0 may still replay: untouched.
    assert (summary.partitions, summary.objects_before, summary.objects_after) == (1, 4, 1)
    assert summary.rows == 20
    names = sorted(_listing(gcs_server, gcs_bucket)[partition])
    assert len(names) == 4 and names[0].startswith("compacted-")
    bucket = client.bucket(gcs_bucket)
    event_ids = [
        event_id
        for name in names
        for event_id in pq.read_table(
            io.BytesIO(bucket.blob(f"events/{partition}/{name}").download_as_bytes())
        )
        .column("event_id")
        .to_pylist()
    ]
    assert len(event_ids) == len(set(event_ids)) == 35

    manifest = json.loads(bucket.blob(writer.manifest_name("a", 0)).download_as_bytes())
    assert manifest["objects"] == []
    assert {entry["into"] for entry in manifest["compacted"]} == {f"events/{partition}/{names[0]}"}
    # A (hypothetical) replay of a compacted batch deletes only what its manifest lists.
    writer.finish_batch([], "a", 0)
    assert sorted(_listing(gcs_server, gcs_bucket)[partition]) == names
    # Running again changes nothing.
    again = LakeCompactor(client, gcs_bucket, "events").compact()
    assert (again.partitions, again.rows) == (0, 0)
    assert sorted(_listing(gcs_server, gcs_bucket)[partition]) == names
