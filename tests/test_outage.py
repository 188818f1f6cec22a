"""A database outage answers 503 in the documented shape, and the service recovers by itself.

The app talks to PostgreSQL through a TCP proxy the test controls: closing it cuts every
connection (as a crashed or restarted database would), reopening it brings the database back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from collection_cases import db
from collection_cases.app import create_app, open_pool
from collection_cases.config import Settings
from tests.factories import case_body


class Proxy:
    def __init__(self, upstream: tuple[str, ...]) -> None:
        self.upstream = upstream
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self.writers: set[asyncio.StreamWriter] = set()

    async def _open_upstream(self):  # type: ignore[no-untyped-def]
        if self.upstream[0] == "unix":
            return await asyncio.open_unix_connection(self.upstream[1])
        return await asyncio.open_connection(self.upstream[1], int(self.upstream[2]))

    async def _pipe(self, reader, writer) -> None:  # type: ignore[no-untyped-def]
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader, writer) -> None:  # type: ignore[no-untyped-def]
        up_reader, up_writer = await self._open_upstream()
        self.writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()
        await self.server.wait_closed()


def _upstream(database_url: str) -> tuple[str, ...]:
    url = make_url(database_url)
    socket_dir = url.query.get("host")
    if socket_dir:
        return ("unix", f"{socket_dir}/.s.PGSQL.{url.port or 5432}")
    return ("tcp", url.host or "127.0.0.1", str(url.port or 5432))


def through(proxy: Proxy, database_url: str) -> str:
    """The database's URL by way of the proxy."""
    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port, query={})
    return url.render_as_string(hide_password=False)


@contextlib.asynccontextmanager
async def behind_a_proxy(database_url: str, **settings: Any) -> AsyncIterator[tuple[Proxy, Any]]:
    """The app on a pool of two whose database is reached through a proxy the test controls.
    A request waits at most a second for a connection before its 503 (5 s by default)."""
    proxy = Proxy(_upstream(database_url))
    await proxy.start()
    configured = Settings(
        database_url=through(proxy, database_url),
        db_pool_size=2,
        db_connect_timeout=2,
        db_pool_timeout=1,
        **settings,
    )
    pool = await open_pool(configured, size=2, name="outage")
    app = create_app(configured, pool=pool)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield proxy, client
    with contextlib.suppress(Exception):
        await proxy.stop()
    await pool.close()


@pytest.fixture
async def proxied(database_url: str, account):  # type: ignore[no-untyped-def]
    async with behind_a_proxy(database_url) as proxied:
        yield proxied


class TestDatabaseOutage:
    async def test_503_while_down_then_recovers(self, proxied, account):
        proxy, client = proxied
        url = "/v1/collection_cases"
        assert (await client.get(url, headers=account.headers)).status_code == 200

        await proxy.stop()
        for request in (
            client.get(url, headers=account.headers),
            client.post(url, json=case_body(), headers=account.headers),
            client.get("/readyz"),
        ):
            async with asyncio.timeout(10):
                response = await request
            assert response.status_code == 503, response.text
            error = response.json()["error"]
            assert error["type"] == "api_error"
            assert response.headers["request-id"].startswith("req_")
        assert (await client.get("/healthz")).status_code == 200

        await proxy.start()
        statuses = []
        for _ in range(10):
            response = await client.post(url, json=case_body(), headers=account.headers)
            statuses.append(response.status_code)
            if response.status_code == 201:
                break
            await asyncio.sleep(0.5)
        assert statuses[-1] == 201, statuses
        listed = await client.get(url, headers=account.headers)
        assert listed.status_code == 200
        assert len(listed.json()["data"]) == 1

    async def test_serves_again_soon_after_a_long_outage(self, database_url, account):
        """The pool retries a lost connection with a growing backoff (1, 2, 4, 8 s...). Left
        to it, the database back after 8.5 s would be noticed only at the next retry, ~15 s
        in: seven seconds of 503s with the database up. Once the retries have run for
        db_reconnect_seconds (1 s here, 10 by default), the next request opens a connection
        itself."""
        async with behind_a_proxy(database_url, db_reconnect_seconds=1) as (proxy, client):
            url = "/v1/collection_cases"
            assert (await client.get(url, headers=account.headers)).status_code == 200
            await proxy.stop()
            down_until = time.monotonic() + 8.5
            while time.monotonic() < down_until:  # a load balancer's probes meanwhile
                async with asyncio.timeout(10):
                    assert (await client.get("/readyz")).status_code == 503
                await asyncio.sleep(0.5)
            await proxy.start()
            back = time.monotonic()
            while (await client.get(url, headers=account.headers)).status_code != 200:
                assert time.monotonic() - back < 3, "still 503 three seconds after the database"
                await asyncio.sleep(0.2)


async def test_a_pool_opened_waiting_outlasts_a_database_slow_to_start(database_url):
    """The CLI opens its pool waiting for every connection: the attempts go on for as long as
    it waits, not only for the reconnection bound (given up after that, nothing would try
    again and a database up at 2.5 s would still fail the command at 6 s)."""
    proxy = Proxy(_upstream(database_url))
    await proxy.start()
    await proxy.stop()  # its port, with nothing behind it yet

    async def database_comes_up() -> None:
        await asyncio.sleep(2.5)
        await proxy.start()

    coming = asyncio.create_task(database_comes_up())
    try:
        pool = await db.open_pool(
            through(proxy, database_url),
            size=1,
            timeout=6,
            connect_timeout=2,
            wait=True,
            reconnect_timeout=1,
        )
        try:
            async with pool.connection() as conn:
                assert await db.fetch_value(conn, "SELECT 1") == 1
        finally:
            await pool.close()
    finally:
        await coming
        await proxy.stop()
