"""The producer's page reads through ``httpx.AsyncClient``: the baseline of its own HTTP client.

:class:`producer.source_connection.SourceConnection` (asyncio protocol + httptools) replaced
an ``httpx.AsyncClient`` for speed alone. :class:`HttpxConnection` is that client again, set up
as it was (keep-alive, the same timeouts, at most 4 connections) behind the same two methods,
so ``bench.producer`` can read the same pages, and drain the same source, with and without it.

``python -m bench.httpx_source httpx produce --once`` runs the producer's commands
(:mod:`producer.cli`, what ``olist produce`` runs, logging at WARNING) with
``producer.source_client`` using :class:`HttpxConnection`; nothing else changes.
``python -m bench.httpx_source httptools produce --once`` runs them unchanged, after the same
imports: both variants pay the same start-up, so a short drain compares the clients alone.
"""

from __future__ import annotations

import httpx

from producer.errors import ResponseTooLarge, SourceUnavailable
from producer.source_connection import DEFAULT_MAX_BODY_BYTES, HttpResponse


class HttpxConnection:
    """``SourceConnection``'s interface on one ``httpx.AsyncClient``."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        timeout: float,
        connect_timeout: float,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        # The body limit is checked after the whole answer arrived (httpx holds it anyway).
        self.max_body_bytes = max_body_bytes
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=4),
        )

    async def get(self, path: str, params: dict[str, str | int]) -> HttpResponse:
        try:
            response = await self._client.get(path, params=params)
        except httpx.TransportError as error:
            raise SourceUnavailable(
                f"cannot reach {self._client.base_url}: {type(error).__name__}: {error}"
            ) from error
        if len(response.content) > self.max_body_bytes:
            raise ResponseTooLarge(f"the source API's answer is over {self.max_body_bytes} bytes")
        headers = {name.lower(): value for name, value in response.headers.items()}
        return HttpResponse(response.status_code, headers, response.content)

    async def aclose(self) -> None:
        await self._client.aclose()


CLIENTS = ("httpx", "httptools")


def use_client(client: str) -> None:
    """Make every :class:`producer.source_client.SourceClient` built from now on use ``client``."""
    import producer.source_client

    if client not in CLIENTS:
        raise ValueError(f"expected a client among {CLIENTS}, found {client!r}")
    if client == "httpx":
        # SourceClient looks the class up when it is built, after this assignment; setattr
        # because HttpxConnection only shares SourceConnection's interface, not its type.
        setattr(producer.source_client, "SourceConnection", HttpxConnection)  # noqa: B010


def main() -> None:
    import sys

    from producer.cli import app
    from schemas.log_format import configure_logging

    client = sys.argv.pop(1) if len(sys.argv) > 1 else ""
    if client not in CLIENTS:
        raise SystemExit(f"usage: python -m bench.httpx_source {{{'|'.join(CLIENTS)}}} ARGS...")
    use_client(client)
    configure_logging("WARNING")
    app()


if __name__ == "__main__":
    main()
