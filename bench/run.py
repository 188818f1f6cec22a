"""`make bench`: the project against two ceilings, on this machine, bounded in time.

1. PostgreSQL: DATABASE_URL's server (database cc_bench) or an embedded one under .data/bench.
2. Data: migrations, a bench account and key, 1,000,000 cases (loaded once, kept).
3. For 1 and 2 workers: `collection-cases serve`, bench/stack_app.py (the leanest app of this
   stack: FastAPI + psycopg_pool, the key and the row in one query) and bench/reference_app.py
   (raw ASGI + asyncpg), all under the same uvicorn settings, each driven by wrk (2 threads,
   c32) through every scenario; then the project again at c256 (errors, sessions).
4. For every scenario, the PostgreSQL sessions opened during it (pg_stat_database.sessions).
5. Memory: RSS of one worker after ~20,000 and ~200,000 requests.
Prints a table (req/s, p50, p99, errors, sessions, ratios to both ceilings) and writes
bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
import psycopg

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BENCH_KEY = "sk_test_benchmarkbenchmarkbenchmark01"
DB_NAME = "cc_bench"
DOCUMENTED_BODY = {
    "amount_to_recover": 360000,
    "currency": "eur",
    "debtor": {
        "type": "private",
        "name": "John Smith",
        "email": "john.smith@example.com",
        "phone": "+49 170 1234567",
        "address": {
            "line1": "Friedrichstraße 123",
            "city": "Berlin",
            "postal_code": "10117",
            "country": "DE",
        },
    },
    "creditor_reference": "INV-2024-0892",
    "due_date": "2024-11-01",
}


def log(msg: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def libpq(url: str) -> str:
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


def database_url() -> str:
    external = os.environ.get("DATABASE_URL")
    if external:
        from sqlalchemy.engine import make_url

        admin = make_url(libpq(external)).set(database="postgres")
        from collection_cases.embedded import ensure_database

        ensure_database(admin.render_as_string(hide_password=False), DB_NAME)
        return make_url(libpq(external)).set(database=DB_NAME).render_as_string(False)
    from collection_cases import embedded

    return embedded.start(ROOT / ".data" / "bench", database=DB_NAME)


def prepare(url: str, rows: int) -> dict[str, list[str] | str]:
    from collection_cases import migrate
    from collection_cases.cli import run_in_transaction
    from collection_cases.tokens import service as tokens

    migrate.upgrade(url)

    async def ensure(conn):  # type: ignore[no-untyped-def]
        await tokens.ensure_key(conn, account_name="bench", raw=BENCH_KEY)

    run_in_transaction(url, ensure)
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        account_id = conn.execute("SELECT id FROM accounts WHERE name = 'bench'").fetchone()[0]
        seeded = conn.execute(
            "SELECT count(*) FROM collection_cases WHERE account_id = %s AND reference LIKE 'B%%'",
            (account_id,),
        ).fetchone()[0]
        if seeded < rows:
            log(f"loading {rows:,} cases (once; kept for later runs)...")
            started = time.monotonic()
            conn.execute("DELETE FROM collection_cases WHERE account_id = %s", (account_id,))
            conn.execute(
                (Path(__file__).parent / "seed.sql").read_text(),
                {"account_id": account_id, "rows": rows},
            )
            conn.execute("VACUUM ANALYZE collection_cases")
            log(f"loaded in {time.monotonic() - started:.0f}s")
        sample = conn.execute(
            "SELECT id, reference FROM collection_cases WHERE account_id = %s AND reference = ANY(%s)",
            (account_id, [f"B{i:07X}" for i in range(1, rows, max(rows // 1000, 1))]),
        ).fetchall()
        deep = conn.execute(
            "SELECT id FROM collection_cases WHERE account_id = %s AND is_test "
            "ORDER BY created_at ASC, id ASC OFFSET 20 LIMIT 1",
            (account_id,),
        ).fetchone()[0]
    return {
        "ids": ["dc_" + r[0].hex for r in sample],
        "refs": [r[1] for r in sample],
        "deep_cursor": "dc_" + deep.hex,
    }


def lua_paths(paths: list[str]) -> str:
    body = ",\n".join(json.dumps(p) for p in paths)
    return (
        f"local paths = {{\n{body}\n}}\n"
        "request = function()\n"
        "  return wrk.format(nil, paths[math.random(#paths)])\n"
        "end\n"
    )


def scenarios(data: dict) -> dict[str, str]:
    base = "/v1/collection_cases"
    post = (
        f'wrk.path = "{base}"\n'
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(json.dumps(DOCUMENTED_BODY, ensure_ascii=False), ensure_ascii=False)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    return {
        "retrieve_id": lua_paths([f"{base}/{i}" for i in data["ids"]]),
        "retrieve_ref": lua_paths([f"{base}/ref/{r.lower()}" for r in data["refs"]]),
        "create": post,
        "list_first": lua_paths([f"{base}?limit=10"]),
        "list_deep": lua_paths([f"{base}?limit=10&starting_after={data['deep_cursor']}"]),
        "list_rare_status": lua_paths([f"{base}?status=paused&limit=10"]),
    }


def wrk(url: str, script: str, seconds: int, connections: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "--timeout",
            "5s",
            "-H",
            f"Authorization: Bearer {BENCH_KEY}",
            "-s",
            f.name,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    ).stdout
    os.unlink(f.name)

    def ms(label: str) -> float:
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "requests": int(total.group(1)) if total else 0,
        "p50": ms("50"),
        "p99": ms("99"),
        "errors": (int(non2xx.group(1)) if non2xx else 0)
        + (sum(int(x) for x in sock.groups()) if sock else 0),
    }


def start(kind: str, url: str, workers: int, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "COLLECTION_CASES_LOG_LEVEL": "warning",
        # The limiter runs (its cost is part of the figures) but never trips.
        "COLLECTION_CASES_RATE_LIMIT_PER_SECOND": os.environ.get("BENCH_RATE_LIMIT", "1000000"),
    }
    if kind == "project":
        cmd = [
            str(BIN / "collection-cases"),
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
        env.setdefault("COLLECTION_CASES_SECRET_KEY", "bench-secret-key-bench-secret-key-0123")
    else:
        env["BENCH_DATABASE_URL"] = libpq(url)
        cmd = [
            str(BIN / "uvicorn"),
            f"bench.{'reference' if kind == 'reference' else 'stack'}_app:app",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    probe = "/healthz" if kind == "project" else "/v1/collection_cases?limit=1"
    while time.monotonic() < deadline:
        try:
            r = httpx.get(
                f"http://127.0.0.1:{port}{probe}",
                headers={"Authorization": f"Bearer {BENCH_KEY}"},
                timeout=1,
            )
            if r.status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop(proc)
    raise RuntimeError(f"{kind} did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def sessions(url: str) -> int:
    """Sessions ever opened on the bench database (PostgreSQL 14+)."""
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else -1


def run_suite(  # type: ignore[no-untyped-def]
    kind: str, url: str, workers: int, scripts: dict[str, str], args, connections: int
) -> dict:
    port = free_port()
    proc = start(kind, url, workers, port)
    results = {}
    try:
        for name, script in scripts.items():
            if args.only and name not in args.only:
                continue
            wrk(f"http://127.0.0.1:{port}", script, 1, connections)  # warm-up
            before = sessions(url)
            results[name] = wrk(f"http://127.0.0.1:{port}", script, args.duration, connections)
            # Our own probe opens one session: whatever more was opened, the server opened.
            results[name]["sessions"] = sessions(url) - before - 1
            r = results[name]
            log(
                f"{kind:9} w{workers} c{connections} {name:17} {r['rps']:8.0f} req/s  "
                f"p50 {r['p50']:6.1f} ms  p99 {r['p99']:6.1f} ms  errors {r['errors']}  "
                f"sessions {r['sessions']}"
            )
    finally:
        stop(proc)
    return results


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """User + system CPU the processes have used (those gone since count as 0)."""
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def server_processes(proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """A started server's processes: the one started and every child (uvicorn's workers)."""
    parent = psutil.Process(proc.pid)
    return [parent, *parent.children(recursive=True)]


def postgres_processes(url: str) -> list[psutil.Process]:
    """The processes of the PostgreSQL server holding the bench database: its postmaster and
    every child (backends, writers), found from a backend of ours; not the machine's other
    servers. Backends come and go, so take them again for each round (the pools keep theirs
    open through it)."""
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    postmaster = psutil.Process(int(row[0])).parent()
    if postmaster is None:
        return []
    return [postmaster, *postmaster.children()]


def interleaved(url: str, workers: int, scripts: dict[str, str], args) -> dict:  # type: ignore[no-untyped-def]
    """The project and the stack app side by side: both started, then for each scenario
    `--interleave` rounds that drive one and then the other for `--duration` seconds. The
    ratio of each round compares two runs a few seconds apart, so a machine whose speed
    drifts from minute to minute moves both; the median of the rounds is the figure."""
    ports = {kind: free_port() for kind in ("project", "stack")}
    procs = {kind: start(kind, url, workers, port) for kind, port in ports.items()}
    results = {}
    try:
        for name, script in scripts.items():
            if args.only and name not in args.only:
                continue
            rps: dict[str, list[float]] = {"project": [], "stack": []}
            # CPU per request (µs), of the server's processes and of PostgreSQL's: where a
            # gap in throughput comes from, with less of the machine's noise than req/s.
            app_us: dict[str, list[float]] = {"project": [], "stack": []}
            db_us: dict[str, list[float]] = {"project": [], "stack": []}
            for _ in range(args.interleave):
                for kind, port in ports.items():
                    wrk(f"http://127.0.0.1:{port}", script, 1, args.connections)  # warm-up
                    database = postgres_processes(url)
                    server = server_processes(procs[kind])  # a restarted worker counts too
                    app0, db0 = cpu_seconds(server), cpu_seconds(database)
                    r = wrk(f"http://127.0.0.1:{port}", script, args.duration, args.connections)
                    count = max(r["requests"], 1)
                    app_us[kind].append((cpu_seconds(server) - app0) / count * 1e6)
                    db_us[kind].append((cpu_seconds(database) - db0) / count * 1e6)
                    rps[kind].append(r["rps"])
            ratios = [p / s for p, s in zip(rps["project"], rps["stack"], strict=True)]
            results[name] = {
                **rps,
                "ratios": ratios,
                "median": statistics.median(ratios),
                "app_us": {k: statistics.median(v) for k, v in app_us.items()},
                "db_us": {k: statistics.median(v) for k, v in db_us.items()},
            }
            cpu = results[name]
            log(
                f"w{workers} {name:17} project/stack per round "
                f"{' '.join(f'{x:.2f}' for x in ratios)}  median {statistics.median(ratios):.2f}"
                f"  CPU µs/req app {cpu['app_us']['project']:.0f} vs {cpu['app_us']['stack']:.0f}"
                f", PostgreSQL {cpu['db_us']['project']:.0f} vs {cpu['db_us']['stack']:.0f}"
            )
    finally:
        for proc in procs.values():
            stop(proc)
    return results


def interleaved_table(results: dict) -> str:
    lines = [
        "| scenario | w | project req/s per round | stack req/s per round "
        "| ÷ stack per round | median | app CPU µs/req project / stack "
        "| PostgreSQL CPU µs/req project / stack |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for workers, per in results["interleaved"].items():
        for name, r in per.items():
            lines.append(
                f"| {name} | {workers} | {' / '.join(f'{x:.0f}' for x in r['project'])} "
                f"| {' / '.join(f'{x:.0f}' for x in r['stack'])} "
                f"| {' / '.join(f'{x:.2f}' for x in r['ratios'])} | {r['median']:.2f} "
                f"| {r['app_us']['project']:.0f} / {r['app_us']['stack']:.0f} "
                f"| {r['db_us']['project']:.0f} / {r['db_us']['stack']:.0f} |"
            )
    return "\n".join(lines)


def memory(url: str, script: str, connections: int) -> dict:
    port = free_port()
    proc = start("project", url, 1, port)
    try:
        process = psutil.Process(proc.pid)
        total, marks = 0, {}
        for target in (20_000, 200_000):
            while total < target:
                total += wrk(f"http://127.0.0.1:{port}", script, 5, connections)["requests"]
            marks[target] = process.memory_info().rss
            log(f"after {total:,} requests RSS {marks[target] / 2**20:.1f} MiB")
    finally:
        stop(proc)
    return {
        "rss_20k_mib": round(marks[20_000] / 2**20, 1),
        "rss_200k_mib": round(marks[200_000] / 2**20, 1),
        "growth_pct": round((marks[200_000] / marks[20_000] - 1) * 100, 1),
    }


def table(results: dict) -> str:
    lines = [
        "| scenario | w | project req/s | stack req/s | raw req/s | ÷ stack | ÷ raw "
        "| p50 ms | p99 ms | errors | sessions |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def ratio(r: dict, ref: dict | None) -> str:
        return f"{r['rps'] / ref['rps']:.2f}" if ref and ref["rps"] else "-"

    for workers, per in results["runs"].items():
        for name, r in per["project"].items():
            stack = per.get("stack", {}).get(name)
            raw = per.get("reference", {}).get(name)
            lines.append(
                f"| {name} | {workers} | {r['rps']:.0f} | {stack['rps'] if stack else 0:.0f} "
                f"| {raw['rps'] if raw else 0:.0f} | {ratio(r, stack)} | {ratio(r, raw)} "
                f"| {r['p50']:.1f} | {r['p99']:.1f} | {r['errors']} | {r['sessions']} |"
            )
        for name, r in per.get("project_c256", {}).items():
            lines.append(
                f"| {name} (c256) | {workers} | {r['rps']:.0f} | | | | | {r['p50']:.1f} "
                f"| {r['p99']:.1f} | {r['errors']} | {r['sessions']} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=6, help="seconds per scenario")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", nargs="*", help="scenario names")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument(
        "--high", type=int, default=256, help="connections of the high-load pass (0: skip)"
    )
    parser.add_argument(
        "--interleave",
        type=int,
        default=0,
        metavar="N",
        help="instead of the full run: project and stack app in N alternating rounds per "
        "scenario, ratio per round and its median",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        log("installing wrk from the system packages...")
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "wrk"], check=True, stdout=subprocess.DEVNULL
        )
    started = time.monotonic()
    url = database_url()
    data = prepare(url, args.rows)
    scripts = scenarios(data)
    results: dict = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "runs": {}}
    results["commit"] = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    if args.interleave:
        results["interleaved"] = {
            int(w): interleaved(url, int(w), scripts, args) for w in args.workers.split(",")
        }
        print(f"\n{results['date']}  commit {results['commit']}\n")  # noqa: T201
        print(interleaved_table(results))  # noqa: T201
        return 0
    for workers in (int(w) for w in args.workers.split(",")):
        per = {"project": run_suite("project", url, workers, scripts, args, args.connections)}
        if not args.no_reference:
            per["stack"] = run_suite("stack", url, workers, scripts, args, args.connections)
            per["reference"] = run_suite("reference", url, workers, scripts, args, args.connections)
        if args.high:
            high = {k: v for k, v in scripts.items() if k in ("retrieve_id", "list_first")}
            per["project_c256"] = run_suite("project", url, workers, high, args, args.high)
        results["runs"][workers] = per
    if not args.no_memory:
        results["memory"] = memory(url, scripts["retrieve_id"], args.connections)
    results["seconds"] = round(time.monotonic() - started)
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    (out_dir / f"{stamp}.json").write_text(json.dumps(results, indent=2))
    print(f"\n{results['date']}  commit {results['commit']}  ({results['seconds']}s)\n")  # noqa: T201
    print(table(results))  # noqa: T201
    if "memory" in results:
        print(f"\nmemory: {results['memory']}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
