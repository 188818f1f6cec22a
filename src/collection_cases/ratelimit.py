"""Per-key rate limits shared by every API process: PostgreSQL by default, Redis if configured.

Fixed one-second windows counted in the shared store (an UNLOGGED table, or Redis INCR with a
short expiry), never in process memory, so the limit holds however many processes serve.
"""

from __future__ import annotations

import time
from typing import Protocol

from collection_cases import db, metrics
from collection_cases.errors import ApiError

WINDOW_SECONDS = 1


class RateLimited(ApiError):
    status_code = 429
    type = "rate_limit_error"
    code = "rate_limit"


class Limiter(Protocol):
    async def take(self, conn: db.Connection, key_id: str, window: int, n: int) -> int:
        """Count n more requests in the key's window in the shared store; the new total."""
        ...


class PostgresLimiter:
    _SQL = (
        "INSERT INTO rate_limit_windows (key_id, window_start, count) VALUES (%s, %s, %s) "
        "ON CONFLICT (key_id, window_start) DO UPDATE "
        "SET count = rate_limit_windows.count + EXCLUDED.count RETURNING count"
    )

    async def take(self, conn: db.Connection, key_id: str, window: int, n: int) -> int:
        return int(await db.fetch_value(conn, self._SQL, (key_id, window, n)) or 0)


class RedisLimiter:
    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self.client = redis.from_url(url)

    async def take(self, conn: db.Connection, key_id: str, window: int, n: int) -> int:
        name = f"cc:rl:{key_id}:{window}"
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.incrby(name, n)
            pipe.expire(name, WINDOW_SECONDS * 5)
            count, _ = await pipe.execute()
        return int(count)


def make_limiter(redis_url: str | None) -> Limiter:
    return RedisLimiter(redis_url) if redis_url else PostgresLimiter()


class Grants:
    """Requests this process has been granted, and not yet served, in a key's current window.

    The shared store is asked for a tenth of the limit at a time (at most 20) rather than for
    every request. Every grant is counted in the store's window total, so all processes
    together never serve more than the limit; grants a process does not use lapse with the
    window (it may then refuse a little early, never late). Under 20 requests a second the
    store is asked for every request.
    """

    def __init__(self) -> None:
        self._grants: dict[str, tuple[int, int]] = {}

    def use(self, key_id: str, window: int) -> bool:
        current = self._grants.get(key_id)
        if current is None or current[0] != window or current[1] <= 0:
            return False
        self._grants[key_id] = (window, current[1] - 1)
        return True

    def add(self, key_id: str, window: int, n: int) -> None:
        current = self._grants.get(key_id)
        if len(self._grants) > 10_000:
            self._grants.clear()
        held = current[1] if current is not None and current[0] == window else 0
        self._grants[key_id] = (window, held + n)


async def check(
    limiter: Limiter | None,
    limit: int,
    conn: db.Connection,
    key_id: str,
    grants: Grants | None = None,
) -> None:
    """Count this request against the key's window; 429 once the window is full."""
    if limiter is None or limit <= 0:
        return
    now = time.time()
    window = int(now) // WINDOW_SECONDS
    if grants is not None and grants.use(key_id, window):
        return
    batch = max(1, min(20, limit // 10)) if grants is not None else 1
    total = await limiter.take(conn, key_id, window, batch)
    granted = min(batch, limit - (total - batch))  # what of this batch fits under the limit
    if granted > 0:
        if grants is not None and granted > 1:
            grants.add(key_id, window, granted - 1)
        return
    # Concurrent requests of this process may have been granted more than they need.
    if grants is None or not grants.use(key_id, window):
        retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
        metrics.RATE_LIMITED.inc()
        raise RateLimited(
            f"Too many requests with this key (more than {limit} per second); "
            f"retry after {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )


async def purge(conn: db.Connection) -> None:
    await db.execute(
        conn, "DELETE FROM rate_limit_windows WHERE window_start < %s", (int(time.time()) - 60,)
    )
