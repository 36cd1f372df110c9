"""Cursor stores: the local file (atomic replace + fsync) and Cloud Storage (generations)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from emulators.gcs import FakeGcsServer
from producer.confirmation import Cursor
from producer.cursor_store import (
    GcsCursorStore,
    LocalFileCursorStore,
    open_cursor_store,
)
from producer.errors import ConfigurationError, CursorStoreError


async def test_local_store_without_a_file_starts_from_the_beginning(tmp_path: Path) -> None:
    store = LocalFileCursorStore(tmp_path / "state" / "cursor.json")

    assert await store.load() is None


async def test_local_store_round_trips_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "state" / "cursor.json"
    store = LocalFileCursorStore(path)

    await store.save(Cursor("AQAAAAAAAAk8pyaCCg", 2364))
    await store.save(Cursor("AQAAAAAAAAtest", 2999))
    store.release()

    assert await LocalFileCursorStore(path).load() == Cursor("AQAAAAAAAAtest", 2999)
    assert sorted(p.name for p in path.parent.iterdir()) == ["cursor.json", "cursor.json.lock"]
    document = orjson.loads(path.read_bytes())
    assert document["cursor"] == "AQAAAAAAAAtest"
    assert document["last_sequence"] == 2999
    assert document["saved_at"].endswith("Z")


async def test_local_store_refuses_a_torn_file_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "cursor.json"
    path.write_bytes(b'{"cursor": "AQ')

    with pytest.raises(CursorStoreError, match=r"is not JSON .* delete it to start from the"):
        await LocalFileCursorStore(path).load()


async def test_local_store_refuses_a_document_of_the_wrong_shape(tmp_path: Path) -> None:
    path = tmp_path / "cursor.json"
    path.write_bytes(b'{"cursor": 5}')

    with pytest.raises(CursorStoreError, match="should be \\{cursor: str\\|null, last_sequence"):
        await LocalFileCursorStore(path).load()


async def test_local_store_reports_an_unwritable_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    store = LocalFileCursorStore(blocker / "cursor.json")

    with pytest.raises(CursorStoreError, match="cannot persist the cursor to"):
        await store.save(Cursor("x", 1))


def test_cursor_location_selects_the_store(tmp_path: Path, gcs_server: FakeGcsServer) -> None:
    assert isinstance(open_cursor_store(str(tmp_path / "c.json")), LocalFileCursorStore)
    gcs = open_cursor_store("gs://bucket/producer/cursor.json", gcs_server.endpoint)
    assert isinstance(gcs, GcsCursorStore)
    assert (gcs.bucket, gcs.name) == ("bucket", "producer/cursor.json")
    with pytest.raises(ConfigurationError, match=r"like gs://bucket/path/cursor\.json"):
        open_cursor_store("gs://bucket-only")
    with pytest.raises(ConfigurationError, match="a file path or gs://bucket/object"):
        open_cursor_store("s3://bucket/cursor.json")


async def test_gcs_store_round_trips_through_cloud_storage(
    gcs_server: FakeGcsServer, gcs_bucket: str
) -> None:
    location = f"gs://{gcs_bucket}/producer/cursor.json"
    store = open_cursor_store(location, gcs_server.endpoint)

    assert await store.load() is None
    await store.save(Cursor("first", 10))
    await store.save(Cursor("second", 20))

    assert await open_cursor_store(location, gcs_server.endpoint).load() == Cursor("second", 20)


async def test_gcs_store_stops_a_second_writer_of_the_same_cursor(
    gcs_server: FakeGcsServer, gcs_bucket: str
) -> None:
    location = f"gs://{gcs_bucket}/cursor.json"
    first = open_cursor_store(location, gcs_server.endpoint)
    second = open_cursor_store(location, gcs_server.endpoint)
    assert await first.load() is None
    assert await second.load() is None
    await first.save(Cursor("from-first", 5))

    with pytest.raises(CursorStoreError, match="another producer writes the same cursor"):
        await second.save(Cursor("from-second", 3))

    assert await open_cursor_store(location, gcs_server.endpoint).load() == Cursor("from-first", 5)


async def test_gcs_store_must_load_before_it_saves(
    gcs_server: FakeGcsServer, gcs_bucket: str
) -> None:
    store = open_cursor_store(f"gs://{gcs_bucket}/cursor.json", gcs_server.endpoint)

    with pytest.raises(CursorStoreError, match="load\\(\\) the cursor"):
        await store.save(Cursor("x", 1))
