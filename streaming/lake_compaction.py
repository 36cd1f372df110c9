"""Compact a lake's small objects: one object per partition date, manifests kept valid.

``olist lake-compact`` rewrites, in every partition (``purchase_date=...``) holding more than
one eligible object, those objects as one ``compacted-<digest>.parquet``. Eligible: objects of
*committed* batches (an earlier output is left as it is, so every manifest's ``compacted``
entries keep pointing at an object that exists). A batch is committed once a later batch
of the same query has a manifest (Spark starts batch N+1 only after committing N; only the
latest batch of a query can replay), so the job may run meanwhile: what it may still rewrite
is never touched.

Crash-safe and repeatable, in this order per partition:

1. a compaction record ``<prefix>/_compactions/<digest>.json`` names the sources and the
   output (the digest is of the sorted source names, so a rerun finds the same record);
2. the output object is written (the sources' rows, nothing else);
3. each source batch's manifest moves the object from ``objects`` to ``compacted`` (with the
   output's name): a manifest lists only objects that exist, and a replay's clean-up
   (``LakeWriter.finish_batch`` deletes what ``objects`` lists and the replay did not write)
   can never delete the output;
4. the sources are deleted; the record is marked done.

A rerun first finishes any record not marked done (steps 2-4). Between steps 2 and 4 a reader
listing the partition sees the rows twice; read through the manifests (or after the command)
when that matters. BigQuery is not involved: its loads named each batch's objects when the
batch ran.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from google.cloud import storage

log = logging.getLogger(__name__)

_MANIFEST = re.compile(r"/_batches/query=(?P<query>[^/]+)/batch=(?P<batch>\d{12})\.json$")


@dataclass(frozen=True)
class CompactionSummary:
    """What one run did."""

    partitions: int
    objects_before: int
    objects_after: int
    rows: int


class LakeCompactor:
    """Compacts the objects under one prefix of one bucket (events or rejected rows)."""

    def __init__(self, client: storage.Client, bucket: str, prefix: str) -> None:
        self.bucket = client.bucket(bucket)
        self.client = client
        self.bucket_name = bucket
        self.prefix = prefix.strip("/")

    def compact(self) -> CompactionSummary:
        """Finish interrupted compactions, then compact every partition with 2+ eligible objects."""
        for record in self._records():
            if not record["done"]:
                self._apply(record)
        manifests = self._manifests()
        latest = {query: max(batches) for query, batches in _by_query(manifests).items()}
        owner = {
            name: key
            for key, manifest in manifests.items()
            if key[1] < latest[key[0]]
            for name in manifest["objects"]
        }
        eligible: dict[str, list[str]] = defaultdict(list)
        for blob in self.client.list_blobs(self.bucket_name, prefix=self.prefix + "/"):
            name = blob.name
            if "/_" in name[len(self.prefix) :]:
                continue  # manifests and records
            partition = name[len(self.prefix) + 1 :].split("/", 1)[0]
            if name in owner:
                eligible[partition].append(name)
        before = after = rows = partitions = 0
        for partition, names in sorted(eligible.items()):
            if len(names) < 2:
                continue
            sources = sorted(names)
            digest = hashlib.sha256("\n".join(sources).encode()).hexdigest()[:20]
            record = {
                "partition": partition,
                "sources": sources,
                "output": f"{self.prefix}/{partition}/compacted-{digest}.parquet",
                "batches": {name: list(owner[name]) for name in sources if name in owner},
                "done": False,
            }
            self._write_json(self._record_name(digest), record)
            rows += self._apply(record)
            partitions += 1
            before += len(sources)
            after += 1
        summary = CompactionSummary(partitions, before, after, rows)
        log.info(
            "lake compacted prefix=%s partitions=%d objects_before=%d objects_after=%d rows=%d",
            self.prefix, summary.partitions, summary.objects_before, summary.objects_after,
            summary.rows,
        )  # fmt: skip
        return summary

    def _apply(self, record: dict[str, Any]) -> int:
        """Steps 2-4 of the module docstring for one record; the rows compacted."""
        from google.api_core.exceptions import NotFound

        output = self.bucket.blob(record["output"])
        present = [name for name in record["sources"] if self.bucket.blob(name).exists()]
        rows = 0
        if present == record["sources"]:
            tables = [self._read(name) for name in record["sources"]]
            table = pa.concat_tables(tables)
            rows = table.num_rows
            buffer = io.BytesIO()
            pq.write_table(table, buffer, compression="snappy")
            output.upload_from_string(
                buffer.getvalue(), content_type="application/vnd.apache.parquet"
            )
        elif not output.exists():
            raise RuntimeError(
                f"compaction {record['output']}: sources missing and no output; "
                "the lake was changed by hand, inspect the record under _compactions/"
            )
        for name, (query, batch) in record["batches"].items():
            manifest_name = f"{self.prefix}/_batches/query={query}/batch={batch:012d}.json"
            manifest = json.loads(self.bucket.blob(manifest_name).download_as_bytes())
            if name in manifest["objects"]:
                manifest["objects"].remove(name)
                manifest.setdefault("compacted", []).append(
                    {"object": name, "into": record["output"]}
                )
                self._write_json(manifest_name, manifest)
        for name in record["sources"]:
            with contextlib.suppress(NotFound):  # deleted by an interrupted run
                self.bucket.blob(name).delete()
        digest = record["output"].rsplit("compacted-", 1)[1].removesuffix(".parquet")
        self._write_json(self._record_name(digest), {**record, "done": True})
        return rows

    def _read(self, name: str) -> pa.Table:
        data = self.bucket.blob(name).download_as_bytes()
        return pq.read_table(io.BytesIO(data))

    def _record_name(self, digest: str) -> str:
        return f"{self.prefix}/_compactions/{digest}.json"

    def _records(self) -> list[dict[str, Any]]:
        return [
            json.loads(blob.download_as_bytes())
            for blob in self.client.list_blobs(
                self.bucket_name, prefix=f"{self.prefix}/_compactions/"
            )
        ]

    def _manifests(self) -> dict[tuple[str, int], dict[str, Any]]:
        manifests = {}
        for blob in self.client.list_blobs(self.bucket_name, prefix=f"{self.prefix}/_batches/"):
            match = _MANIFEST.search(blob.name)
            if match:
                key = (match["query"], int(match["batch"]))
                manifests[key] = json.loads(blob.download_as_bytes())
        return manifests

    def _write_json(self, name: str, value: dict[str, Any]) -> None:
        self.bucket.blob(name).upload_from_string(
            json.dumps(value, sort_keys=True), content_type="application/json"
        )


def _by_query(manifests: dict[tuple[str, int], Any]) -> dict[str, list[int]]:
    batches: dict[str, list[int]] = defaultdict(list)
    for query, batch in manifests:
        batches[query].append(batch)
    return batches
