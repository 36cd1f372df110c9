"""TLS to PostgreSQL up to ``verify-full``, and database URLs that never reach a log (issue 14 §1).

A real server with ``ssl=on`` and a certificate for 127.0.0.1 signed by a throw-away CA (made by
``openssl`` here): the API and ``olist db init`` connect with ``sslmode=verify-full`` and the
CA; with another CA the same URL is refused. Passwords in every DSN form stay out of the logs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from emulators.postgres import LocalPostgres
from tests.fixtures.api import ApiProcess

pytestmark = pytest.mark.slow  # a server of its own


def _openssl(*arguments: str, cwd: Path) -> None:
    subprocess.run(["openssl", *arguments], cwd=cwd, check=True, capture_output=True)


def _certificate_authority(directory: Path, name: str) -> Path:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.pem",
             cwd=directory)  # fmt: skip
    return directory / f"{name}.pem"


@pytest.fixture(scope="module")
def tls_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalPostgres, Path]]:
    directory = tmp_path_factory.mktemp("tls")
    directory.chmod(0o755)
    ca = _certificate_authority(directory, "olist-test-ca")
    (directory / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", "server.key", "-out", "server.csr", cwd=directory)  # fmt: skip
    _openssl("x509", "-req", "-in", "server.csr", "-CA", ca.name, "-CAkey", "olist-test-ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", "san.cnf", "-out", "server.pem",
             cwd=directory)  # fmt: skip
    for name in ("server.key", "server.pem"):
        (directory / name).chmod(0o600)
        LocalPostgres.give_to_server(directory / name)
    server = LocalPostgres(
        server_options=(
            "ssl=on",
            f"ssl_cert_file={directory / 'server.pem'}",
            f"ssl_key_file={directory / 'server.key'}",
        )
    ).start()
    try:
        yield server, ca
    finally:
        server.stop()


def _olist(*arguments: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("OLIST_")}
    env["OLIST_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "olist_cli", *arguments],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_verify_full_with_the_servers_ca_connects_and_another_ca_is_refused(
    tls_postgres: tuple[LocalPostgres, Path],
    tmp_path: Path,
    start_api: Callable[..., ApiProcess],
) -> None:
    server, ca = tls_postgres
    verified = f"{server.dsn}?sslmode=verify-full&sslrootcert={ca}"
    stranger = _certificate_authority(tmp_path, "another-ca")
    refused = f"{server.dsn}?sslmode=verify-full&sslrootcert={stranger}"

    init = _olist("db", "init", database_url=verified)
    api = start_api(verified)
    ready = httpx.get(f"{api.url}/readyz", timeout=30)
    wrong = _olist("db", "init", database_url=refused)

    assert init.returncode == 0, init.stderr
    assert ready.status_code == 200
    assert wrong.returncode != 0
    assert "certificate verify failed" in wrong.stderr + wrong.stdout


@pytest.mark.parametrize(
    "database_url",
    [
        "postgresql://olist:Pa55-in-url@127.0.0.1:1/olist",
        "postgresql://olist@127.0.0.1:1/olist?password=Pa55-in-query",
        "host=127.0.0.1 port=1 user=olist password=Pa55-key-value dbname=olist",
    ],
    ids=["url", "query", "key-value"],
)
def test_a_database_password_never_reaches_the_output(database_url: str) -> None:
    secret = database_url.split("Pa55", 1)[1].split("@")[0].split(" ")[0]
    result = _olist("db", "init", database_url=database_url)

    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "127.0.0.1" in output  # the message says where, redacted
    assert "Traceback" not in output
    assert "Pa55" + secret not in output
