"""Many processes on one database: two `serve` (2 workers each), two `collection-cases worker`,
Redis rate limits, the S3 store (moto's server), webhooks to a real receiver.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/multiprocess.py

1. Throughput: creates (wrk, c32) against one serve process, then against both at once.
2. Traffic: cases created, files uploaded and payments recorded through both processes.
3. Webhooks: once the outbox drains, every event reached each of the two endpoints exactly
   once, and in the order the deliveries were written, although two worker processes claimed
   them concurrently.
4. Rate limit: with a limit of L requests/s per key, a burst at both processes at once is
   served at most L per second in total (Redis windows shared by every process).
Prints the figures (for bench/README.md) and exits non-zero if a property does not hold.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))
from bench.run import DOCUMENTED_BODY, free_port, libpq, log, wrk  # noqa: E402

PDF = (ROOT / "tests" / "data" / "invoice.pdf").read_bytes()


class Receiver:
    """Records every delivery: (path, event id), in arrival order."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.received.append((self.path, json.loads(body)["id"]))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


def fresh_database(admin_url: str) -> str:
    from sqlalchemy.engine import make_url

    name = f"cc_bench_mp_{secrets.token_hex(3)}"
    admin = make_url(libpq(admin_url)).set(database="postgres").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(libpq(admin_url)).set(database=name).render_as_string(False)


def drop_database(admin_url: str, url: str) -> None:
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    admin = make_url(libpq(admin_url)).set(database="postgres").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


LOGS = Path(tempfile.mkdtemp(prefix="cc-bench-mp-logs-"))


def start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    out = open(LOGS / f"{cmd[1]}-{len(list(LOGS.iterdir()))}.log", "wb")  # noqa: SIM115
    return subprocess.Popen(cmd, env=env, stdout=out, stderr=out, start_new_session=True)


def wait_up(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{base} did not start")


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    import signal

    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def create_script() -> str:
    return (
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(json.dumps(DOCUMENTED_BODY, ensure_ascii=False), ensure_ascii=False)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        'request = function() return wrk.format(nil, "/v1/collection_cases") end\n'
    )


def retrieve_script(case_ids: list[str]) -> str:
    paths = ",".join(json.dumps(f"/v1/collection_cases/{c}") for c in case_ids)
    return (
        f"local paths = {{{paths}}}\n"
        "request = function() return wrk.format(nil, paths[math.random(#paths)]) end\n"
    )


def throughput(bases: list[str], key: str, seconds: int, script: str | None = None) -> float:
    """Requests/s (creates unless `script` says otherwise) with wrk against every base at
    once (c32 each)."""
    results: list[dict] = [{} for _ in bases]
    script = script or create_script()

    def run(i: int, base: str) -> None:
        results[i] = wrk_with_key(base, script, seconds, key)

    threads = [threading.Thread(target=run, args=(i, b)) for i, b in enumerate(bases)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = sum(r["errors"] for r in results)
    if errors:
        raise AssertionError(f"{errors} errors during the throughput run")
    return sum(r["rps"] for r in results)


def wrk_with_key(base: str, script: str, seconds: int, key: str) -> dict:
    import bench.run as run_module

    previous = run_module.BENCH_KEY
    run_module.BENCH_KEY = key
    try:
        return wrk(base, script, seconds, 32)
    finally:
        run_module.BENCH_KEY = previous


async def traffic(bases: list[str], key: str, cases: int) -> dict[str, int]:
    """Creates, uploads and payments, alternating between the processes."""
    headers = {"Authorization": f"Bearer {key}"}
    counts = collections.Counter()
    async with httpx.AsyncClient(timeout=30) as client:

        async def one(i: int) -> None:
            base = bases[i % len(bases)]
            other = bases[(i + 1) % len(bases)]
            r = await client.post(
                f"{base}/v1/collection_cases", json=DOCUMENTED_BODY, headers=headers
            )
            assert r.status_code == 201, r.text
            case = r.json()["id"]
            r = await client.post(
                f"{other}/v1/collection_cases/{case}/files",
                files={"file": ("invoice.pdf", PDF, "application/pdf")},
                data={"document_type": "original_invoice"},
                headers=headers,
            )
            assert r.status_code == 201, r.text
            for amount in (100_000, 260_000):  # the second one closes the case as paid
                r = await client.post(
                    f"{base}/v1/test_helpers/collection_cases/{case}/record_payment",
                    json={"amount": amount, "type": "installment"},
                    headers=headers,
                )
                assert r.status_code == 201, r.text
            counts["cases"] += 1
            counts["uploads"] += 1
            counts["payments"] += 2

        for start_at in range(0, cases, 16):
            await asyncio.gather(*(one(i) for i in range(start_at, min(cases, start_at + 16))))
    return dict(counts)


def check_deliveries(url: str, receiver: Receiver, endpoints: dict[str, str]) -> dict[str, int]:
    """Every delivery row delivered; each endpoint got each event once, in the rows' order."""
    with psycopg.connect(libpq(url)) as conn:
        rows = conn.execute(
            "SELECT endpoint_id, event_id, status FROM webhook_deliveries "
            "ORDER BY endpoint_id, created_at, id"
        ).fetchall()
    expected: dict[str, list[str]] = collections.defaultdict(list)
    for endpoint_id, event_id, status in rows:
        assert status == "delivered", (endpoint_id, event_id, status)
        expected[endpoint_id].append(event_id)
    got: dict[str, list[str]] = collections.defaultdict(list)
    for path, event_id in receiver.received:
        got[endpoints[path]].append(event_id)
    for endpoint_id, events in expected.items():
        duplicates = len(got[endpoint_id]) - len(set(got[endpoint_id]))
        assert duplicates == 0, f"{duplicates} duplicate deliveries to {endpoint_id}"
        assert got[endpoint_id] == events, f"{endpoint_id}: not every event, or not in order"
    return {endpoint: len(events) for endpoint, events in expected.items()}


async def burst(bases: list[str], key: str, per_process: int) -> list[tuple[float, int]]:
    """Concurrent GETs at every process; (time, status) of each answer."""
    headers = {"Authorization": f"Bearer {key}"}
    answers: list[tuple[float, int]] = []
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def hit(base: str) -> None:
            r = await client.get(f"{base}/v1/collection_cases?limit=1", headers=headers)
            answers.append((time.time(), r.status_code))

        await asyncio.gather(*(hit(b) for b in bases for _ in range(per_process)))
    return answers


def main() -> int:
    admin_url = os.environ.get("DATABASE_URL")
    if not admin_url:
        log("set DATABASE_URL to a PostgreSQL server (a database is created and dropped)")
        return 2
    from moto.server import ThreadedMotoServer

    s3_port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=s3_port)
    moto.start()
    url = fresh_database(admin_url)
    receiver = Receiver()
    procs: list[subprocess.Popen[bytes]] = []
    metrics_dir = tempfile.mkdtemp(prefix="cc-bench-mp-")
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "FILE_STORE_URL": "s3://cc-bench/files",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
        "COLLECTION_CASES_SECRET_KEY": "bench-secret-key-bench-secret-key-0123",
        "COLLECTION_CASES_LOG_LEVEL": "warning",
        "COLLECTION_CASES_RUN_WORKER": "false",
        "COLLECTION_CASES_EGRESS_TEST_MODE_LOOPBACK": "true",  # the receivers listen on loopback
        "COLLECTION_CASES_RATE_LIMIT_PER_SECOND": "1000000",
        "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
    }
    cli = str(BIN / "collection-cases")
    figures: dict[str, object] = {}
    failed = False
    try:
        import boto3

        boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        ).create_bucket(Bucket="cc-bench")
        subprocess.run([cli, "db", "upgrade"], env=env, check=True, capture_output=True)
        key = subprocess.run(
            [cli, "keys", "create", "--account", "bench-mp"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        ports = [free_port(), free_port()]

        def serve_all(extra_env: dict[str, str], workers: int = 2) -> list[subprocess.Popen[bytes]]:
            started = [
                start(
                    [cli, "serve", "--port", str(p), "--workers", str(workers)],
                    {**env, **extra_env},
                )
                for p in ports
            ]
            for p in ports:
                wait_up(f"http://127.0.0.1:{p}")
            return started

        bases = [f"http://127.0.0.1:{p}" for p in ports]
        seconds = int(os.environ.get("BENCH_SECONDS", "8"))
        # 1a. Scaling: one serve process of one worker, then two such processes at once. This
        # machine has two cores: one worker per process is what can still scale here.
        procs += serve_all({}, workers=1)
        one = throughput(bases[:1], key, seconds)
        two = throughput(bases, key, seconds)
        figures["creates_per_second_1x1_worker"] = round(one)
        figures["creates_per_second_2x1_worker"] = round(two)
        log(f"creates/s, 1 worker each: one process {one:.0f}, two {two:.0f} ({two / one:.2f}x)")
        with psycopg.connect(libpq(url)) as conn:
            sample = [
                "dc_" + r[0].hex
                for r in conn.execute("SELECT id FROM collection_cases LIMIT 200").fetchall()
            ]
        reads = retrieve_script(sample)
        one = throughput(bases[:1], key, seconds, reads)
        two = throughput(bases, key, seconds, reads)
        figures["retrieves_per_second_1x1_worker"] = round(one)
        figures["retrieves_per_second_2x1_worker"] = round(two)
        log(f"retrieves/s, 1 worker each: one process {one:.0f}, two {two:.0f} ({two / one:.2f}x)")
        stop_all(procs)
        procs = []
        procs += serve_all({})
        headers = {"Authorization": f"Bearer {key}"}
        endpoints = {}
        for path in ("/a", "/b"):
            r = httpx.post(
                f"{bases[0]}/v1/webhook_endpoints",
                json={"url": receiver.url + path, "enabled_events": ["*"]},
                headers=headers,
            )
            r.raise_for_status()
            endpoints[path] = r.json()["id"]

        # 1b. The same with two workers each (webhook workers not yet running, so the figure
        # is the API's; deliveries queue up in the outbox meanwhile).
        one = throughput(bases[:1], key, seconds)
        both = throughput(bases, key, seconds)
        figures["creates_per_second_1x2_workers"] = round(one)
        figures["creates_per_second_2x2_workers"] = round(both)
        log(f"creates/s, 2 workers each: one process {one:.0f}, two {both:.0f} ({both / one:.2f}x)")

        # 2. Mixed traffic through both processes, files to S3.
        t0 = time.monotonic()
        counts = asyncio.run(traffic(bases, key, 200))
        figures["traffic"] = counts
        log(f"traffic {counts} in {time.monotonic() - t0:.1f}s")

        # 3. Two standalone webhook workers drain the outbox.
        procs += [start([cli, "worker"], env) for _ in range(2)]
        t0 = time.monotonic()
        with psycopg.connect(libpq(url)) as conn:
            while True:
                pending = conn.execute(
                    "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'"
                ).fetchone()[0]
                if pending == 0 or time.monotonic() - t0 > 1200:
                    break
                if int(time.monotonic() - t0) % 15 == 0:
                    log(f"{pending} deliveries pending")
                time.sleep(1)
        drained = time.monotonic() - t0
        delivered = check_deliveries(url, receiver, endpoints)
        figures["deliveries"] = sum(delivered.values())
        figures["drain_seconds"] = round(drained, 1)
        log(
            f"{sum(delivered.values())} deliveries by two workers in {drained:.1f}s: each event "
            f"once per endpoint, in order ({delivered})"
        )

        # 4. Rate limit shared by every process: restart the API with a limit of 50/s.
        stop_all(procs[:2])
        procs = procs[2:]
        procs += serve_all({"COLLECTION_CASES_RATE_LIMIT_PER_SECOND": "50"})
        began = time.time()
        answers = asyncio.run(burst(bases, key, 150))
        ended = time.time()
        # The limiter counts whole seconds of the servers' clock (this machine's): the burst
        # touched these windows, and at most 50 requests may be served in each.
        windows = int(ended) - int(began) + 1
        served = sum(1 for _, status in answers if status == 200)
        refused = sum(1 for _, status in answers if status == 429)
        others = [s for _, s in answers if s not in (200, 429)]
        figures["rate_limit"] = {
            "limit_per_second": 50,
            "windows": windows,
            "served": served,
            "refused": refused,
        }
        log(
            f"rate limit 50/s, 300 requests at both processes over {windows} one-second "
            f"windows: served {served}, refused {refused}"
        )
        assert not others, others
        assert refused > 0
        assert served <= 50 * windows, (served, windows)

        # The metrics of all four API worker processes, added up by one of them.
        text = httpx.get(f"{bases[0]}/metrics").text
        total = sum(
            float(m.group(1))
            for m in re.finditer(
                r'collection_cases_http_requests_total\{[^}]*status="429"[^}]*\} ([0-9.e+]+)', text
            )
        )
        log(f"/metrics on one process reports {total:.0f} refusals (answered by all four)")
        assert total == refused, (total, refused)
    except AssertionError as exc:
        failed = True
        log(f"FAILED: {exc}")
    finally:
        stop_all(procs)
        receiver.server.shutdown()
        moto.stop()
        drop_database(admin_url, url)
        import shutil

        shutil.rmtree(metrics_dir, ignore_errors=True)
    print(json.dumps(figures, indent=2))  # noqa: T201
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
