"""Per-key rate limits shared by every API process: PostgreSQL by default, Redis if configured.

Fixed one-second windows counted in the shared store (an UNLOGGED table, or Redis INCR with a
short expiry), never in process memory, so the limit holds however many processes serve.
"""

from __future__ import annotations

import time
from typing import Protocol

from psycopg import AsyncConnection as PgConnection

from collection_cases.errors import ApiError

WINDOW_SECONDS = 1


class RateLimited(ApiError):
    status_code = 429
    type = "rate_limit_error"
    code = "rate_limit"


class Limiter(Protocol):
    async def hit(self, conn: PgConnection, key_id: str, window: int) -> int: ...


class PostgresLimiter:
    _SQL = (
        "INSERT INTO rate_limit_windows (key_id, window_start, count) VALUES (%s, %s, 1) "
        "ON CONFLICT (key_id, window_start) DO UPDATE "
        "SET count = rate_limit_windows.count + 1 RETURNING count"
    )

    async def hit(self, conn: PgConnection, key_id: str, window: int) -> int:
        row = await (await conn.execute(self._SQL, (key_id, window))).fetchone()
        return int(row[0]) if row else 0


class RedisLimiter:
    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self.client = redis.from_url(url)

    async def hit(self, conn: PgConnection, key_id: str, window: int) -> int:
        name = f"cc:rl:{key_id}:{window}"
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.incr(name)
            pipe.expire(name, WINDOW_SECONDS * 5)
            count, _ = await pipe.execute()
        return int(count)


def make_limiter(redis_url: str | None) -> Limiter:
    return RedisLimiter(redis_url) if redis_url else PostgresLimiter()


async def check(limiter: Limiter | None, limit: int, conn: PgConnection, key_id: str) -> None:
    """Count this request against the key's window; 429 once the window is full."""
    if limiter is None or limit <= 0:
        return
    now = time.time()
    window = int(now) // WINDOW_SECONDS
    if await limiter.hit(conn, key_id, window) > limit:
        retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
        raise RateLimited(
            f"Too many requests with this key (more than {limit} per second); "
            f"retry after {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )


async def purge(conn: PgConnection) -> None:
    await conn.execute(
        "DELETE FROM rate_limit_windows WHERE window_start < %s", (int(time.time()) - 60,)
    )
