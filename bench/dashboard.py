"""The dashboard's list page with 1,000,000 cases in the account, timed server-side.

    .venv/bin/python bench/dashboard.py                      # embedded PostgreSQL (.data/bench)
    DATABASE_URL=postgresql://... .venv/bin/python bench/dashboard.py

1. PostgreSQL: DATABASE_URL's server (database cc_bench_dashboard, its own: other branches'
   benches keep theirs at their own migration) or the embedded one `make bench` uses.
2. Data: migrations, the bench account and key, 1,000,000 cases (bench/seed.sql, loaded once;
   the totals the dashboard counts from are kept by the same triggers as in production).
3. The app in this process (no network, no load generator): sign in with the bench key like a
   browser, then for each scenario 5 warm-up requests and `--requests` timed ones, each timed
   from the request entering the ASGI app to its last body byte. Prints p50 / p95 / max.
No timing is asserted anywhere; this prints what it measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import time
from html import unescape
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (bench/run.py: the shared database setup and seed)

DB_NAME = "cc_bench_dashboard"
ROWS = 1_000_000


def database_url() -> str:
    external = os.environ.get("DATABASE_URL")
    if not external:
        from collection_cases import embedded

        return embedded.start(run.ROOT / ".data" / "bench", database=DB_NAME)
    from sqlalchemy.engine import make_url

    from collection_cases.embedded import ensure_database

    admin = make_url(run.libpq(external)).set(database="postgres")
    ensure_database(admin.render_as_string(hide_password=False), DB_NAME)
    return make_url(run.libpq(external)).set(database=DB_NAME).render_as_string(False)


def samples(url: str) -> dict[str, str]:
    with psycopg.connect(run.libpq(url), autocommit=True) as conn:
        account_id = conn.execute("SELECT id FROM accounts WHERE name = 'bench'").fetchone()[0]
        deep = conn.execute(
            "SELECT id FROM collection_cases WHERE account_id = %s AND is_test "
            "ORDER BY created_at ASC, id ASC OFFSET 20 LIMIT 1",
            (account_id,),
        ).fetchone()[0]
        middle = conn.execute(
            "SELECT reference, creditor_reference, created_at::date FROM collection_cases "
            "WHERE account_id = %s AND reference = 'B0080000'",
            (account_id,),
        ).fetchone()
    return {
        "deep": "dc_" + deep.hex,
        "reference": middle[0],
        "creditor_reference": middle[1],
        "day": middle[2].isoformat(),
    }


def scenarios(s: dict[str, str]) -> dict[str, str]:
    base = "/dashboard/cases"
    return {
        "first page (with count)": base,
        "status=paused (rare, with count)": f"{base}?status=paused",
        "status=active (with count)": f"{base}?status=active",
        "deep page (starting_after)": f"{base}?starting_after={s['deep']}",
        "previous page (ending_before)": f"{base}?ending_before={s['deep']}",
        "search by reference": f"{base}?q={s['reference'].lower()}",
        "search by creditor reference": f"{base}?q={quote(s['creditor_reference'])}",
        "country + type + one day": (
            f"{base}?debtor_country=DE&debtor_type=private"
            f"&created_from={s['day']}&created_to={s['day']}"
        ),
        "overview (totals, chart, attention)": "/dashboard",
    }


async def measure(url: str, paths: dict[str, str], requests: int) -> dict[str, list[float]]:
    from pydantic import SecretStr

    from collection_cases import db, secret_key
    from collection_cases.app import create_app
    from collection_cases.config import Settings

    pool = await db.open_pool(url, size=4, timeout=10, wait=True, name="bench-dashboard")
    # Sessions are signed with the server's secret key; any key will do for one process.
    key = os.environ.get("COLLECTION_CASES_SECRET_KEY") or secret_key.generate()
    settings = Settings(
        database_url=url, run_worker=False, rate_limit_per_second=0, secret_key=SecretStr(key)
    )
    app = create_app(settings, pool=pool)
    results: dict[str, list[float]] = {}
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            form = (await client.get("/dashboard/sign-in")).text
            token = unescape(re.search(r'name="csrf_token" value="([^"]+)"', form).group(1))
            signed = await client.post(
                "/dashboard/sign-in", data={"key": run.BENCH_KEY, "csrf_token": token}
            )
            assert signed.status_code == 303, signed.text
            for name, path in paths.items():
                timings = []
                for i in range(5 + requests):
                    started = time.perf_counter()
                    response = await client.get(path)
                    elapsed = (time.perf_counter() - started) * 1000
                    assert response.status_code == 200, (path, response.status_code)
                    if i >= 5:
                        timings.append(elapsed)
                results[name] = timings
                run.log(f"{name}: p50 {statistics.median(timings):.1f} ms")
    finally:
        await pool.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    url = database_url()
    run.prepare(url, args.rows)
    with psycopg.connect(run.libpq(url), autocommit=True) as conn:
        total = conn.execute(
            "SELECT sum(cases) FROM case_totals t JOIN accounts a ON a.id = t.account_id "
            "WHERE a.name = 'bench' AND t.is_test"
        ).fetchone()[0]
    run.log(f"bench account: {total:,} test-mode cases")
    results = asyncio.run(measure(url, scenarios(samples(url)), args.requests))
    print(f"\nDashboard pages, {total:,} cases, {args.requests} requests each, server-side (ms)\n")
    print("| page | p50 | p95 | max |")
    print("|---|---|---|---|")
    for name, timings in results.items():
        ordered = sorted(timings)
        p95 = ordered[int(len(ordered) * 0.95) - 1]
        print(f"| {name} | {statistics.median(ordered):.1f} | {p95:.1f} | {ordered[-1]:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
