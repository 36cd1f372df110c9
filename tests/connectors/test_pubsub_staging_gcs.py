"""Staging on Cloud Storage: what only an object store can get wrong, on fake-gcs-server.

The behaviour shared with the filesystem (staging, replay, release, acknowledgement) is proven
for both backends by ``test_pubsub_reader.py`` (fixture ``staging_location``). Here: a crash
between the data and the manifest upload, a manifest whose data is gone, two writers of one
batch and a retried upload (generation preconditions), a slow store (timeouts, retries with
back-off), a missing or unwritable bucket, and executors reading only their slice. Faults the
server cannot produce itself go through :mod:`tests.fixtures.gcs_proxy`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google.api_core.exceptions import PreconditionFailed
from pyspark.sql.streaming.datasource import ReadAllAvailable

from connectors.pubsub import StagingError
from connectors.pubsub.reader import PubSubStreamReader
from connectors.pubsub.staging_gcs import GcsStagingArea
from emulators.gcs import FakeGcsServer
from tests.connectors.test_pubsub_reader import new_reader, read_batch, staged_message_ids
from tests.fixtures.gcs_proxy import Fault, GcsProxy
from tests.fixtures.source_topic import SourceTopic
from tests.fixtures.staged_messages import staged_rows


@pytest.fixture
def readers() -> Iterator[list[PubSubStreamReader]]:
    made: list[PubSubStreamReader] = []
    yield made
    for reader in made:
        reader.stop()


@pytest.fixture
def location(gcs_bucket: str) -> str:
    return f"gs://{gcs_bucket}/staging"


def area_on(endpoint: str, location: str, **settings: float) -> GcsStagingArea:
    return GcsStagingArea(location, endpoint=endpoint, **settings)


def stage(area: GcsStagingArea, batch: int, rounds: list[int]) -> None:
    writer = area.writer(batch)
    for size in rounds:
        writer.write(staged_rows([(b"raw", {})] * size).to_batches()[0])
    writer.commit()


def test_a_crash_between_data_and_manifest_upload_is_released_and_re_pulled(
    source_topic: SourceTopic,
    gcs_server: FakeGcsServer,
    location: str,
    readers: list[PubSubStreamReader],
) -> None:
    source_topic.publish_packed(messages=3, events_per_message=2)
    options = {"stagingEndpoint": gcs_server.endpoint}
    before_crash = new_reader(source_topic, location, readers, **options)
    assert before_crash.latestOffset({"batch": 0}, ReadAllAvailable()) == {"batch": 1}
    staged_ids = staged_message_ids(before_crash, 1)
    old_ack_ids = before_crash.staging.ack_ids(1)
    area = before_crash.staging
    assert isinstance(area, GcsStagingArea)
    area.blob(area.manifest_name(1)).delete()  # the driver died before the manifest upload
    before_crash.stop()

    after_restart = new_reader(source_topic, location, readers, **options)
    assert after_restart.staging.batches() == []
    # Spark logged nothing: the data object is a leftover, released (nack) and removed, and
    # its messages come straight back into a new batch 1.
    assert after_restart.latestOffset({"batch": 0}, ReadAllAvailable()) == {"batch": 1}
    assert staged_message_ids(after_restart, 1) == staged_ids
    assert set(after_restart.staging.ack_ids(1)).isdisjoint(old_ack_ids)
    assert after_restart.staging.leftovers() == []
    rows = read_batch(after_restart, 0, 1)
    assert len(rows) == 6


def test_a_manifest_whose_data_is_gone_fails_the_replay_clearly_and_acknowledges_nothing(
    source_topic: SourceTopic,
    gcs_server: FakeGcsServer,
    location: str,
    readers: list[PubSubStreamReader],
) -> None:
    source_topic.publish_packed(messages=2, events_per_message=2)
    options = {"stagingEndpoint": gcs_server.endpoint}
    before_crash = new_reader(source_topic, location, readers, **options)
    assert before_crash.latestOffset({"batch": 0}, ReadAllAvailable()) == {"batch": 1}
    ack_ids = before_crash.staging.ack_ids(1)
    staged_ids = staged_message_ids(before_crash, 1)
    area = before_crash.staging
    assert isinstance(area, GcsStagingArea)
    area.blob(area.data_name(1)).delete()  # someone cleaned the bucket, the manifest stayed
    before_crash.stop()

    after_restart = new_reader(source_topic, location, readers, **options)
    with pytest.raises(
        StagingError, match=r"00000000000000000001\.arrow generation \d+ is missing"
    ):
        read_batch(after_restart, 0, 1)  # Spark replays batch 1 of its offset log
    after_restart.stop()
    assert source_topic.redeliverable(ack_ids, expected=2) == staged_ids


def test_a_second_writer_of_a_batch_fails_and_replaces_nothing(
    gcs_server: FakeGcsServer, location: str
) -> None:
    first, second = area_on(gcs_server.endpoint, location), area_on(gcs_server.endpoint, location)
    first_writer, second_writer = first.writer(5), second.writer(5)  # both see no batch 5
    first_writer.write(staged_rows([(b"one", {})]).to_batches()[0])
    second_writer.write(staged_rows([(b"two", {}), (b"three", {})]).to_batches()[0])
    manifest = first_writer.commit()

    with pytest.raises(StagingError, match=r"already exists with other content.*Nothing was"):
        second_writer.commit()
    assert first.manifest(5) == manifest
    assert first.read_table(5, ["data"]).column("data").to_pylist() == [b"one"]
    with pytest.raises(StagingError, match="already staged"):
        second.writer(5)


def test_a_retried_upload_that_had_landed_keeps_its_object(
    gcs_server: FakeGcsServer, gcs_proxy: GcsProxy, location: str
) -> None:
    # The first data upload reaches the server, its answer is lost: the client times out and
    # retries with the same precondition, which fails (412) on its own object.
    landed: list[str] = []

    def decide(method: str, path: str) -> Fault | None:
        # The data object is the first upload of a batch (its name is in the body).
        if method == "POST" and "uploadType=multipart" in path and not landed:
            landed.append(path)
            return Fault(delay_answer=3.0)
        return None

    gcs_proxy.decide = decide
    area = area_on(gcs_proxy.endpoint, location, timeout_seconds=1.0, retry_seconds=60.0)
    stage(area, 3, [2, 1])

    uploads = [r for r in gcs_proxy.requests if "uploadType=multipart" in r.path]
    assert [r.status for r in uploads] == [200, 412, 200], uploads  # data, its retry, manifest
    assert area.manifest(3).messages == 3
    generations = [blob.generation for blob in area.client.list_blobs(area.bucket_name)]
    assert len(generations) == 2  # the data object once and its manifest
    assert area.read_table(3, ["message_id"]).num_rows == 3


def test_a_precondition_failure_is_raised_by_the_store_not_decided_by_the_client(
    gcs_server: FakeGcsServer, location: str
) -> None:
    area = area_on(gcs_server.endpoint, location)
    stage(area, 1, [1])
    blob = area.blob(area.data_name(1))
    with pytest.raises(PreconditionFailed):
        blob.upload_from_string(b"other bytes", if_generation_match=0)
    assert area.read_table(1, ["message_id"]).num_rows == 1


def test_a_slow_store_is_retried_with_back_off_until_it_answers(
    gcs_server: FakeGcsServer, gcs_proxy: GcsProxy, location: str
) -> None:
    slow: list[str] = []

    def decide(method: str, path: str) -> Fault | None:
        if len(slow) < 3:  # the first three requests, whatever they are, take too long
            slow.append(path)
            return Fault(delay_request=3.0)
        return None

    gcs_proxy.decide = decide
    area = area_on(gcs_proxy.endpoint, location, timeout_seconds=1.0, retry_seconds=120.0)
    stage(area, 1, [3])
    assert area.batches() == [1]
    assert [t.num_rows for t in area.read_slice(1, 1, 2)] == [2]
    assert len(gcs_proxy.requests) > 3 + 3  # three timed out, each was asked again


def test_a_store_that_never_answers_fails_the_batch_and_acknowledges_nothing(
    source_topic: SourceTopic,
    gcs_proxy: GcsProxy,
    location: str,
    readers: list[PubSubStreamReader],
) -> None:
    source_topic.publish_packed(messages=2, events_per_message=2)
    gcs_proxy.decide = lambda method, path: Fault(status=503)
    reader = new_reader(
        source_topic,
        location,
        readers,
        stagingEndpoint=gcs_proxy.endpoint,
        stagingTimeoutSeconds="1",
        stagingRetrySeconds="3",
    )
    with pytest.raises(StagingError, match=r"did not answer within 3 s of retries"):
        reader.latestOffset({"batch": 0}, ReadAllAvailable())
    assert len(gcs_proxy.requests) >= 2  # retried before giving up
    reader.stop()  # the messages held in memory are handed back
    assert len(source_topic.redeliverable([], expected=2)) == 2


def test_a_missing_bucket_is_a_clear_error_at_the_first_offset_call(
    source_topic: SourceTopic, gcs_server: FakeGcsServer, readers: list[PubSubStreamReader]
) -> None:
    reader = new_reader(
        source_topic,
        "gs://olist-no-such-bucket/staging",
        readers,
        stagingEndpoint=gcs_server.endpoint,
    )
    with pytest.raises(StagingError, match="bucket 'olist-no-such-bucket' does not exist"):
        reader.latestOffset({"batch": 0}, ReadAllAvailable())


def test_an_unwritable_bucket_is_a_clear_error_at_the_first_offset_call(
    source_topic: SourceTopic,
    gcs_proxy: GcsProxy,
    location: str,
    readers: list[PubSubStreamReader],
) -> None:
    gcs_proxy.decide = lambda method, path: Fault(status=403) if method == "POST" else None
    reader = new_reader(source_topic, location, readers, stagingEndpoint=gcs_proxy.endpoint)
    with pytest.raises(StagingError, match=r"refused access to bucket.*objectAdmin"):
        reader.latestOffset({"batch": 0}, ReadAllAvailable())


def test_executors_read_only_the_rounds_of_their_slice(
    gcs_server: FakeGcsServer, gcs_proxy: GcsProxy, location: str
) -> None:
    writer_side = area_on(gcs_server.endpoint, location)
    stage(writer_side, 2, [100, 100, 100, 100])
    size = writer_side.manifest(2).data_size
    assert size is not None

    executor_side = area_on(gcs_proxy.endpoint, location)
    tables = list(executor_side.read_slice(2, 150, 20))  # inside the second round
    assert [t.num_rows for t in tables] == [20]
    data_reads = [r for r in gcs_proxy.requests if ".arrow" in r.path and r.method == "GET"]
    assert data_reads and all(r.range is not None for r in data_reads), data_reads
    assert sum(r.body_bytes for r in data_reads) < size / 2


def test_a_slice_over_many_rounds_reads_the_footer_once_and_each_round_in_one_request(
    gcs_server: FakeGcsServer, gcs_proxy: GcsProxy, location: str
) -> None:
    writer_side = area_on(gcs_server.endpoint, location)
    stage(writer_side, 4, [10] * 20)

    executor_side = area_on(gcs_proxy.endpoint, location)
    tables = list(executor_side.read_slice(4, 5, 190))  # 20 rounds, the first and last in part
    assert [t.num_rows for t in tables] == [5] + [10] * 18 + [5]
    data_reads = [r for r in gcs_proxy.requests if ".arrow" in r.path and r.method == "GET"]
    # The footer (its length, then its body) once, then one ranged read per round; opening
    # the file again for each round made it three requests per round.
    assert len(data_reads) == 2 + 20, [r.range for r in data_reads]
