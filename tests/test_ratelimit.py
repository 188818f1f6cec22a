"""Rate limits per key, shared by every process (PostgreSQL, or Redis when configured)."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest

from collection_cases.app import create_app
from tests.factories import auth


def _client(app):  # type: ignore[no-untyped-def]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def _burst(apps, account, n):  # type: ignore[no-untyped-def]
    # Start at the beginning of a second so the burst falls in one window.
    await asyncio.sleep(1 - time.time() % 1 + 0.01)
    clients = [_client(app) for app in apps]
    try:
        return await asyncio.gather(
            *(
                clients[i % len(clients)].get("/v1/collection_cases", headers=account.headers)
                for i in range(n)
            )
        )
    finally:
        for c in clients:
            await c.aclose()


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.mark.parametrize("backend", ["postgres", "redis"])
async def test_limit_is_shared_by_two_processes(settings, pool, account, other_account, backend):
    if backend == "redis" and not _redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379")
    update = {
        "rate_limit_per_second": 6,
        "redis_url": "redis://127.0.0.1:6379/0" if backend == "redis" else None,
    }
    # Two app instances = two API processes: they share nothing but the store.
    apps = [create_app(settings.model_copy(update=update), pool=pool) for _ in range(2)]
    responses = await _burst(apps, account, 10)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 6 + [429] * 4
    limited = next(r for r in responses if r.status_code == 429)
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert 1 <= int(limited.headers["retry-after"]) <= 1
    # Another key is not affected, and the next second starts afresh.
    async with _client(apps[0]) as c:
        assert (
            await c.get("/v1/collection_cases", headers=auth(other_account.sk_test))
        ).status_code == 200
        await asyncio.sleep(1.05)
        assert (await c.get("/v1/collection_cases", headers=account.headers)).status_code == 200


async def test_batched_grants_never_exceed_the_shared_limit(settings, pool, account):
    # limit 40: each process takes grants of 4 from the store; together never over 40, and
    # grants taken by concurrent requests are used, not wasted.
    update = {"rate_limit_per_second": 40, "redis_url": None}
    apps = [create_app(settings.model_copy(update=update), pool=pool) for _ in range(2)]
    responses = await _burst(apps, account, 60)
    ok = sum(r.status_code == 200 for r in responses)
    assert 40 - 2 * 4 <= ok <= 40
    assert all(r.status_code in (200, 429) for r in responses)
