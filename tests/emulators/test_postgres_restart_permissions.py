"""The local PostgreSQL starts again after a directory above its data was closed to others.

pytest resets ``/tmp/pytest-of-<user>`` to 0700 whenever a session starts: a server under a
test's ``tmp_path``, restarted later (the chaos run, the restart tests), must not depend on the
traverse bits the first start added.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from emulators.postgres import Durability, LocalPostgres

pytestmark = pytest.mark.slow


def test_a_restart_reopens_directories_closed_since_the_first_start(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    server = LocalPostgres(data_dir=closed / "data", durability=Durability.NEVER_KILLED)
    server.start()
    try:
        server.stop()
        closed.chmod(0o700)
        tmp_path.chmod(0o700)
        server.start()  # raised "pg_ctl: could not access directory ...: Permission denied"
    finally:
        server.stop()
