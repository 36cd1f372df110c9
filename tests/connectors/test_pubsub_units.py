"""Pub/Sub source: options, offsets, staging, ack chunking, partition planning, unpacking.

No Spark and no emulator here: these are the pure parts of ``connectors.pubsub``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest

from connectors.pubsub import (
    BatchOffset,
    OffsetError,
    PubSubOptionError,
    StagingError,
    parse_options,
)
from connectors.pubsub.partitions import PubSubInputPartition, StagedSlice, plan_partitions
from connectors.pubsub.records import (
    expected_rows,
    output_arrow_schema,
    split_message,
    unpack_messages,
)
from connectors.pubsub.staging import source_stats_path
from connectors.pubsub.staging_local import LocalStagingArea, read_staged_slice
from connectors.pubsub.subscriber import (
    MAX_ACK_IDS_PER_REQUEST,
    MAX_ACK_REQUEST_BYTES,
    chunk_ack_ids,
)
from schemas.envelope import encode_events
from tests.fixtures.staged_messages import STAGED_TIME_MICROS, staged_rows

SUBSCRIPTION = "projects/olist-test/subscriptions/orders"


def options(**extra: str) -> dict[str, str]:
    return {"subscription": SUBSCRIPTION, "stagingLocation": "/tmp/staging", **extra}


# ------------------------------------------------------------------------------ options
def test_options_accept_full_subscription_path_and_apply_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    parsed = parse_options(options(numPartitions="3"))
    assert parsed.subscription_path == SUBSCRIPTION
    assert parsed.project == "olist-test"
    assert parsed.staging_location == "/tmp/staging"
    assert parsed.emulator_host is None
    assert parsed.max_records_per_trigger == 1_000_000  # bounded unless told otherwise
    assert parsed.max_bytes_per_trigger == 1024**3
    assert parsed.num_partitions == 3
    assert parsed.unpack == "envelope"
    assert parsed.ack_deadline_seconds == 60


def test_a_gs_staging_location_is_kept_as_a_uri_with_its_endpoint_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:4443")
    parsed = parse_options(options(stagingLocation="gs://olist-stream/staging/q1/"))
    assert parsed.staging_location == "gs://olist-stream/staging/q1"
    assert parsed.staging_endpoint == "http://127.0.0.1:4443"
    assert (parsed.staging_timeout_seconds, parsed.staging_retry_seconds) == (60.0, 300.0)
    # A filesystem location needs no endpoint.
    assert parse_options(options()).staging_endpoint is None
    with pytest.raises(PubSubOptionError, match="stagingEndpoint"):
        parse_options(options(stagingLocation="gs://olist-stream/s", stagingEndpoint="4443"))
    # The counters stay on the driver's disk, one file per location.
    first, second = source_stats_path("gs://a-bucket/one"), source_stats_path("gs://a-bucket/two")
    assert first != second and first.name == "stats.json"


def test_options_build_path_from_project_and_bare_subscription_name() -> None:
    parsed = parse_options(
        {"project": "olist-test", "subscription": "orders", "stagingLocation": "/tmp/s"}
    )
    assert parsed.subscription_path == SUBSCRIPTION


def test_options_are_case_insensitive_and_emulator_host_falls_back_to_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "localhost:8085")
    parsed = parse_options(
        {"SUBSCRIPTION": SUBSCRIPTION, "staginglocation": "/tmp/s", "MAXRECORDSPERTRIGGER": "5"}
    )
    assert parsed.emulator_host == "localhost:8085"
    assert parsed.max_records_per_trigger == 5


@pytest.mark.parametrize(
    ("raw", "bad_option"),
    [
        ({"stagingLocation": "/tmp/s"}, "subscription"),
        ({"subscription": "orders", "stagingLocation": "/tmp/s"}, "project"),
        ({"subscription": "projects/a/topics/b", "stagingLocation": "/tmp/s"}, "subscription"),
        ({"subscription": SUBSCRIPTION}, "stagingLocation"),
        (options(stagingLocation="s3://bucket/staging"), "stagingLocation"),
        (options(stagingLocation="gs://B/staging"), "stagingLocation"),
        (options(project="another-project"), "project"),
        (options(maxRecordsPerTrigger="0"), "maxRecordsPerTrigger"),
        (options(maxRecordsPerTrigger="ten"), "maxRecordsPerTrigger"),
        (options(numPartitions="-1"), "numPartitions"),
        (options(unpack="json"), "unpack"),
        (options(ackDeadlineSeconds="5"), "ackDeadlineSeconds"),
        (options(ackDeadlineSeconds="601"), "ackDeadlineSeconds"),
        (options(pullMaxMessages="1001"), "pullMaxMessages"),
        (options(pullTimeoutSeconds="0"), "pullTimeoutSeconds"),
        (options(pullWaitSeconds="-1"), "pullWaitSeconds"),
        (options(emulatorHost="http://localhost:8085"), "emulatorHost"),
        (options(maxRecordPerTrigger="10"), "maxrecordpertrigger"),
    ],
)
def test_option_errors_name_the_bad_option(raw: dict[str, str], bad_option: str) -> None:
    with pytest.raises(PubSubOptionError) as raised:
        parse_options(raw)
    assert raised.value.option == bad_option
    assert str(raised.value).startswith(f"option '{bad_option}': ")


# ------------------------------------------------------------------------------ offsets
def test_offsets_round_trip_through_json_and_grow_by_one() -> None:
    offset = BatchOffset(41)
    assert BatchOffset.from_json(offset.to_json()) == offset
    assert BatchOffset.from_dict(json.loads(json.dumps(offset.to_dict()))) == offset
    assert offset.to_dict() == {"batch": 41}
    assert offset.next() == BatchOffset(42)
    assert BatchOffset(0) < offset < offset.next()


@pytest.mark.parametrize(
    "bad", [{"batch": -1}, {"batch": "3"}, {"batch": True}, {"partition": 1}, {}, [1]]
)
def test_offsets_refuse_shapes_this_source_never_writes(bad: object) -> None:
    with pytest.raises(OffsetError):
        BatchOffset.from_dict(bad)  # type: ignore[arg-type]  # the wrong shapes under test


# ------------------------------------------------------------------------------ ack chunking
def test_ack_chunks_respect_id_count_and_request_byte_limits() -> None:
    short_ids = [f"id-{index}" for index in range(6001)]
    chunks = list(chunk_ack_ids(short_ids))
    assert [len(chunk) for chunk in chunks] == [2500, 2500, 1001]
    assert [ack_id for chunk in chunks for ack_id in chunk] == short_ids

    long_ids = [f"{index:0>300}" for index in range(3000)]  # 300-byte ids: bytes bind first
    chunks = list(chunk_ack_ids(long_ids))
    assert all(sum(len(i) + 8 for i in chunk) <= MAX_ACK_REQUEST_BYTES for chunk in chunks)
    assert all(len(chunk) <= MAX_ACK_IDS_PER_REQUEST for chunk in chunks)
    assert [ack_id for chunk in chunks for ack_id in chunk] == long_ids
    assert len(chunks) == 3
    assert list(chunk_ack_ids([])) == []


# ------------------------------------------------------------------------------ planning
def test_partition_plan_covers_every_message_once_with_balanced_rows() -> None:
    row_counts = [pa.chunked_array([[100, 100, 100, 100]]), pa.chunked_array([[1, 1, 200, 198]])]
    plan = plan_partitions([4, 5], row_counts, num_partitions=4, staged_times_micros=[40, 50])
    covered = [
        (piece.batch, piece.first + index)
        for partition in plan
        for piece in partition.slices
        for index in range(piece.count)
    ]
    assert covered == [(4, 0), (4, 1), (4, 2), (4, 3), (5, 0), (5, 1), (5, 2), (5, 3)]
    assert plan == [
        PubSubInputPartition((StagedSlice(4, 0, 2, 40),)),
        PubSubInputPartition((StagedSlice(4, 2, 2, 40),)),
        PubSubInputPartition((StagedSlice(5, 0, 3, 50),)),
        PubSubInputPartition((StagedSlice(5, 3, 1, 50),)),
    ]


def test_partition_plan_never_makes_more_partitions_than_messages() -> None:
    plan = plan_partitions(
        [1], [pa.chunked_array([[5, 5]])], num_partitions=8, staged_times_micros=[10]
    )
    assert plan == [
        PubSubInputPartition((StagedSlice(1, 0, 1, 10),)),
        PubSubInputPartition((StagedSlice(1, 1, 1, 10),)),
    ]
    assert plan_partitions([], [], num_partitions=8, staged_times_micros=[]) == []


# ------------------------------------------------------------------------------ unpacking
def packed(events: list[bytes]) -> tuple[bytes, dict[str, str]]:
    message = encode_events(events, 1, len(events))
    return message.data, message.attributes


def test_envelope_messages_split_into_events_and_others_stay_whole() -> None:
    data, attributes = packed([b'{"a":1}', b'{"a":2}', b'{"a":3}'])
    assert split_message(data, attributes, "envelope") == (
        [b'{"a":1}', b'{"a":2}', b'{"a":3}'],
        None,
    )
    assert expected_rows(data, attributes, "envelope") == 3
    assert split_message(data, attributes, "none") == ([data], None)
    assert expected_rows(data, attributes, "none") == 1
    assert split_message(b"plain text", {}, "envelope") == ([b"plain text"], None)


def test_compressed_envelope_splits_into_its_events_and_a_corrupt_one_stays_whole() -> None:
    message = encode_events([b'{"a":1}', b'{"a":2}'], 1, 2, compression="zstd")
    assert split_message(message.data, message.attributes, "envelope") == (
        [b'{"a":1}', b'{"a":2}'],
        None,
    )
    corrupt = message.data[: len(message.data) // 2]  # cut short
    payloads, error = split_message(corrupt, message.attributes, "envelope")
    assert payloads == [corrupt]
    assert error is not None and error.startswith("zstd payload")


def test_envelope_with_wrong_event_count_is_one_row_carrying_the_error() -> None:
    data, attributes = packed([b'{"a":1}', b'{"a":2}'])
    attributes["event_count"] = "5"
    assert split_message(data, attributes, "envelope") == (
        [data],
        "message declares event_count=5 but carries 2 events",
    )


def test_unpacked_record_batches_match_the_declared_arrow_schema_exactly() -> None:
    broken_data, broken_attributes = packed([b'{"b":1}'])
    broken_attributes["event_count"] = "2"
    table = staged_rows(
        [packed([b'{"a":1}', b'{"a":2}']), (b"raw", {"k": "v"}), (broken_data, broken_attributes)]
    )
    batches = list(unpack_messages(table, "envelope", STAGED_TIME_MICROS))
    assert [batch.schema.equals(output_arrow_schema()) for batch in batches] == [True]
    rows = pa.Table.from_batches(batches).to_pylist()
    assert [(r["message_id"], r["event_index"], r["payload"], r["unpack_error"]) for r in rows] == [
        ("0", 0, b'{"a":1}', None),
        ("0", 1, b'{"a":2}', None),
        ("1", 0, b"raw", None),
        ("2", 0, b'{"b":1}', "message declares event_count=2 but carries 1 events"),
    ]
    assert rows[2]["attributes"] == [("k", "v")]
    staged_at = dt.datetime.fromtimestamp(STAGED_TIME_MICROS / 1_000_000, dt.UTC)
    assert [row["staged_time"] for row in rows] == [staged_at] * 4


# ------------------------------------------------------------------------------ staging
def test_staged_batch_is_visible_only_after_commit_and_delete_is_idempotent(
    tmp_path: Path,
) -> None:
    area = LocalStagingArea(tmp_path / "staging")
    table = staged_rows([packed([b'{"a":1}', b'{"a":2}']), (b"raw", {})])
    writer = area.writer(7)
    writer.write(table.to_batches()[0])
    assert area.batches() == []
    manifest = writer.commit()
    assert (manifest.batch, manifest.messages, manifest.rows) == (7, 2, 3)
    assert area.batches() == [7]
    assert area.ack_ids(7) == ["ack-0", "ack-1"]
    assert area.read_table(7).equals(table)
    with pytest.raises(StagingError, match="already staged"):
        area.writer(7)
    area.delete(7)
    area.delete(7)
    assert area.batches() == []
    with pytest.raises(StagingError, match="no manifest"):
        area.manifest(7)


def test_a_manifest_staged_before_the_staged_time_column_gives_its_rows_their_staging_time(
    tmp_path: Path,
) -> None:
    # What the first release wrote (format 1): a batch staged by it and replayed by this
    # version gets its staged_time from created_at, as a batch staged now does.
    written_by_first_release = (
        '{"batch": 7, "messages": 2, "rows": 3, "data_file": "00000000000000000007.arrow", '
        '"created_at": 1764720000.123456, "format": 1, "round_sizes": [2], '
        '"data_generation": null, "data_size": null}'
    )
    area = LocalStagingArea(tmp_path)
    writer = area.writer(7)
    writer.write(staged_rows([packed([b'{"a":1}', b'{"a":2}']), (b"raw", {})]).to_batches()[0])
    writer.commit()
    area.manifest_path(7).write_text(written_by_first_release)

    assert area.manifest(7).staged_time_micros == 1_764_720_000_123_456
    plan = plan_partitions([7], [area.row_counts(7)], 1, [area.manifest(7).staged_time_micros])
    assert plan == [PubSubInputPartition((StagedSlice(7, 0, 2, 1_764_720_000_123_456),))]


def test_staged_slices_are_read_round_by_round_across_round_boundaries(tmp_path: Path) -> None:
    area = LocalStagingArea(tmp_path)
    writer = area.writer(2)
    rounds = [3, 4, 5]
    for size in rounds:  # one record batch per pull round, message ids 0.. per round
        writer.write(staged_rows([(b"raw", {})] * size).to_batches()[0])
    writer.commit()
    path = area.data_path(2)
    everything = [
        f"{index}:{message_id}"
        for index, size in enumerate(rounds)
        for message_id in [str(i) for i in range(size)]
    ]

    def read(first: int, count: int) -> tuple[list[int], list[str | None]]:
        tables = list(read_staged_slice(path, first, count))
        ids = [row for table in tables for row in table.column("message_id").to_pylist()]
        return [table.num_rows for table in tables], ids

    assert read(0, 12) == ([3, 4, 5], [item.split(":")[1] for item in everything])
    assert read(2, 6) == ([1, 4, 1], ["2", "0", "1", "2", "3", "0"])
    assert read(7, 1) == ([1], ["0"])
    with pytest.raises(StagingError, match="holds 12 messages, the plan reads up to 13"):
        read(10, 3)


def test_interrupted_staging_leaves_only_leftovers(tmp_path: Path) -> None:
    area = LocalStagingArea(tmp_path)
    writer = area.writer(3)
    writer.write(staged_rows([(b"raw", {})]).to_batches()[0])
    writer.abort()  # what the reader does when pulling fails mid-batch
    assert area.leftovers() == []
    writer = area.writer(4)
    writer.write(staged_rows([(b"raw", {})]).to_batches()[0])
    writer.commit()
    area.manifest_path(4).unlink()  # as if the crash hit between data and manifest
    assert area.batches() == []
    assert area.leftovers() == [str(area.data_path(4))]
