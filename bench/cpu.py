"""CPU per request inside one process: requests driven straight into the ASGI app (no
socket, no HTTP parsing, no load generator), best of several rounds of `time.process_time`.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/cpu.py retrieve list [--profile]

It makes a database `cc_cpu` on DATABASE_URL's server (dropped and made again unless
`--keep`), one account and one case, then measures each named scenario. `--app stack` drives
bench/stack_app.py instead (the same key, rows and requests; retrieve and list only): the
ratio of the two, counted in instructions under callgrind, is the gap to the stack's ceiling
without the machine's noise (bench/README.md). Comparing two
versions of the code: run it from each checkout, interleaved, several times; the figures
move by 10-30 % from run to run on a shared machine, so look at the lowest of each.
`--profile` prints cProfile's top functions for the first scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.factories import DOCUMENTED_CASE, make_account  # noqa: E402

from collection_cases import db, migrate  # noqa: E402
from collection_cases.app import create_app  # noqa: E402
from collection_cases.config import Settings  # noqa: E402

NAME = "cc_cpu"


def database(server: str, keep: bool) -> str:
    url = make_url(server)
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(False)
    target = url.set(database=NAME).render_as_string(False)
    if not keep:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {NAME} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {NAME}")
        migrate.upgrade(target)
    return target


async def main(args: argparse.Namespace) -> None:
    url = database(os.environ["DATABASE_URL"], args.keep)
    # As bench/run.py runs the server: access log off, no rate limit in the way.
    settings = Settings(
        database_url=url, run_worker=False, log_level="warning", rate_limit_per_second=10**6
    )
    pool = await db.open_pool(url, size=args.pool, timeout=5, wait=True, name="cpu")
    project = create_app(settings, pool=pool)
    account = await make_account(pool)
    key = account.sk_test
    transport = httpx.ASGITransport(app=project)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        created = await c.post(
            "/v1/collection_cases", json=DOCUMENTED_CASE, headers={"Authorization": f"Bearer {key}"}
        )
        case = created.json()["id"]
    app: Any = project
    if args.app == "stack":
        os.environ["BENCH_DATABASE_URL"] = url
        os.environ["BENCH_POOL_SIZE"] = str(args.pool)
        from bench.stack_app import app as stack

        lifespan = stack.router.lifespan_context(stack)
        await lifespan.__aenter__()
        app = stack
    paths = {
        "retrieve": f"/v1/collection_cases/{case}",
        "list": "/v1/collection_cases?limit=10",
        "list_status": "/v1/collection_cases?limit=10&status=active",
    }
    headers = [(b"host", b"t"), (b"authorization", f"Bearer {key}".encode())]

    async def one(path: str, query: str) -> None:
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        assert sent[0]["status"] == 200, sent

    async def drive(path: str, query: str, requests: int) -> None:
        """`requests` requests, in `--concurrency` streams running at once (a loaded server's
        interleaving: waits for connections, more tasks switching) or one after another."""

        async def stream(count: int) -> None:
            for _ in range(count):
                await one(path, query)

        # Every request is run: the first streams take one more when they do not divide.
        each, more = divmod(requests, args.concurrency)
        await asyncio.gather(*(stream(each + (i < more)) for i in range(args.concurrency)))

    for name in args.scenarios:
        path, _, query = paths[name].partition("?")
        await drive(path, query, 300)
        best = float("inf")
        for _ in range(args.rounds):
            started = time.process_time()
            await drive(path, query, args.requests)
            best = min(best, (time.process_time() - started) / args.requests)
        print(f"{name:12} {best * 1e6:6.0f} µs CPU per request (best of {args.rounds})")
    if args.profile:
        path, _, query = paths[args.scenarios[0]].partition("?")
        profile = cProfile.Profile()
        profile.enable()
        await drive(path, query, args.requests)
        profile.disable()
        pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)
    if args.app == "stack":
        await lifespan.__aexit__(None, None, None)
    await pool.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="+", choices=["retrieve", "list", "list_status"])
    parser.add_argument("--app", choices=["project", "stack"], default="project")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--keep", action="store_true", help="reuse the database of a last run")
    parser.add_argument("--concurrency", type=int, default=1, help="requests in flight at once")
    parser.add_argument("--pool", type=int, default=4, help="connections of the app's pool")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sort", default="tottime", help="cProfile's sort key (cumulative, ...)")
    parser.add_argument("--top", type=int, default=30)
    asyncio.run(main(parser.parse_args()))
