"""Metrics at /metrics (Prometheus text, bounded labels, correct across worker processes) and
traces through FastAPI's native OpenTelemetry (spans of a create, none when off)."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from collection_cases import db
from collection_cases.app import create_app
from tests.factories import auth, case_body, helper, make_case
from tests.files.conftest import PDF
from tests.live import CLI, TEST_POOL_SIZE, free_port, serve, stop, wait_healthy


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus exposition: (name, sorted labels) -> value."""
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


class TestMetrics:
    async def test_counters_move_with_bounded_labels(self, client, account):
        before = (await client.get("/metrics")).text
        case = await make_case(client, account)
        await client.get(f"/v1/collection_cases/{case['id']}", headers=account.headers)
        await client.get("/v1/collection_cases/dc_nope", headers=account.headers)
        r = await client.get("/metrics")  # no API key needed
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        after = r.text
        name = "collection_cases_http_requests_total"
        for route, status in (
            ("/v1/collection_cases", "201"),
            ("/v1/collection_cases/{case_id}", "200"),
            ("/v1/collection_cases/{case_id}", "404"),
        ):
            method = "POST" if status == "201" else "GET"
            labels = {"method": method, "route": route, "status": status}
            assert value(after, name, **labels) - value(before, name, **labels) == 1, route
        # Route templates only: no raw id ever becomes a label.
        assert case["id"] not in after
        assert "dc_nope" not in after
        assert (
            value(
                after,
                "collection_cases_http_request_duration_seconds_count",
                method="GET",
                route="/v1/collection_cases/{case_id}",
            )
            >= 2
        )
        assert "collection_cases_db_pool_connections" in after

    async def test_unmatched_paths_share_one_label(self, client):
        await client.get("/v1/nothing/here/12345")
        text = (await client.get("/metrics")).text
        assert "/v1/nothing" not in text
        assert 'route="unmatched"' in text

    async def test_replays_refusals_uploads_and_outbox(self, client, account, settings, pool):
        text = lambda: client.get("/metrics")  # noqa: E731
        before = (await text()).text
        headers = {**account.headers, "Idempotency-Key": "metrics-1"}
        for _ in range(2):
            await client.post("/v1/collection_cases", json=case_body(), headers=headers)
        case = await make_case(client, account)
        upload = await client.post(
            f"/v1/collection_cases/{case['id']}/files",
            files={"file": ("invoice.pdf", PDF, "application/pdf")},
            data={"document_type": "original_invoice"},
            headers=account.headers,
        )
        assert upload.status_code == 201
        r = await client.post(
            "/v1/webhook_endpoints",
            json={"url": "http://127.0.0.1:9/none", "enabled_events": ["*"]},
            headers=account.headers,
        )
        await helper(client, account, case["id"], "record_payment", amount=1000)
        after = (await text()).text
        assert (
            value(after, "collection_cases_idempotent_replays_total")
            - value(before, "collection_cases_idempotent_replays_total")
            == 1
        )
        assert (
            value(after, "collection_cases_uploads_total")
            - value(before, "collection_cases_uploads_total")
            == 1
        )
        assert value(after, "collection_cases_upload_bytes_total") - value(
            before, "collection_cases_upload_bytes_total"
        ) == len(PDF)
        assert value(after, "collection_cases_webhook_outbox_pending") >= 2
        assert value(after, "collection_cases_webhook_outbox_oldest_pending_seconds") >= 0
        await client.delete(f"/v1/webhook_endpoints/{r.json()['id']}", headers=account.headers)

    async def test_rate_limit_refusals_are_counted(self, settings, pool, account):
        app = create_app(settings.model_copy(update={"rate_limit_per_second": 1}), pool=pool)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            before = value((await c.get("/metrics")).text, "collection_cases_rate_limited_total")
            statuses = [
                (await c.get("/v1/collection_cases", headers=account.headers)).status_code
                for _ in range(4)
            ]
            after = value((await c.get("/metrics")).text, "collection_cases_rate_limited_total")
        assert statuses.count(429) >= 1
        assert after - before == statuses.count(429)

    async def test_can_be_turned_off(self, settings, pool):
        for update in ({"metrics": False}, {"metrics_port": 9999}):
            app = create_app(settings.model_copy(update=update), pool=pool)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                assert (await c.get("/metrics")).status_code == 404


def pool_size_seen(metrics_port: int, expected: int) -> float:
    """The API pools' size gauge, once it reads `expected` (or after 30 s, what it reads).
    Each worker reports its connections as they open, then every 5 s: on a busy machine the
    first report can come before all of them are up."""
    deadline = time.monotonic() + 30
    while True:
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        size = value(text, "collection_cases_db_pool_connections", pool="api", state="size")
        if size == expected or time.monotonic() > deadline:
            return size
        time.sleep(0.5)


class TestMetricsAcrossProcesses:
    def test_a_stopped_server_leaves_no_metrics_folder(self, fresh_database, tmp_path):
        """With no PROMETHEUS_MULTIPROC_DIR, `serve` makes a metrics folder of its own in the
        temp dir and removes it when stopped as a service manager stops it (SIGTERM), exiting
        0. uvicorn re-raises the signal once it has shut down: killed by it, the process ran
        no exit hooks and every stop left a folder behind."""
        scratch = tmp_path / "tmp"
        scratch.mkdir()
        env = {
            **os.environ,
            "DATABASE_URL": fresh_database,
            "COLLECTION_CASES_LOG_LEVEL": "warning",
            "TMPDIR": str(scratch),
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        port = free_port()
        proc = serve(port, env)
        try:
            wait_healthy(f"http://127.0.0.1:{port}", proc)
            made = [p.name for p in scratch.iterdir() if p.name.startswith("cc-metrics-")]
            assert len(made) == 1, made
            assert httpx.get(f"http://127.0.0.1:{port}/metrics").status_code == 200
        finally:
            out = stop(proc)
        assert proc.returncode == 0, out
        assert not (scratch / made[0]).exists()

    def test_two_workers_one_total_and_a_metrics_port(self, fresh_database, tmp_path):
        """`serve --workers 2`: whichever worker answers /metrics reports every worker's
        requests; with a metrics port they are served there and not on the API port."""
        env = {
            **os.environ,
            "DATABASE_URL": fresh_database,
            "COLLECTION_CASES_LOG_LEVEL": "warning",
        }
        folder = tmp_path / "metrics"
        folder.mkdir()
        env["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
        key = subprocess.run(
            [CLI, "keys", "create", "--account", "metrics"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        port, metrics_port = free_port(), free_port()
        proc = serve(
            port, {**env, "COLLECTION_CASES_METRICS_PORT": str(metrics_port)}, "--workers", "2"
        )
        try:
            wait_healthy(f"http://127.0.0.1:{port}", proc)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=auth(key)) as c:
                for _ in range(40):  # new connections: spread over both workers
                    assert (
                        c.get("/v1/collection_cases", headers={"Connection": "close"}).status_code
                        == 200
                    )
                assert c.get("/metrics").status_code == 404
            text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
            total = value(
                text,
                "collection_cases_http_requests_total",
                method="GET",
                route="/v1/collection_cases",
                status="200",
            )
            assert total == 40
            # Both workers' pools are in the live gauges: 2 x the pool size each process keeps.
            assert pool_size_seen(metrics_port, 2 * int(TEST_POOL_SIZE)) == 2 * int(TEST_POOL_SIZE)
            # Each worker froze what it built at startup out of the collector's passes
            # (Settings.gc_freeze): some 100,000 objects each, both counted.
            text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
            assert value(text, "collection_cases_gc_frozen_objects") > 2 * 50_000

            # A worker dies and is replaced: its connections went with it, its requests stay.
            before = _workers(proc.pid)
            crashed = before[0]
            os.kill(crashed, signal.SIGKILL)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                workers = _workers(proc.pid)
                if len(workers) == 2 and crashed not in workers:
                    break
                time.sleep(0.2)
            assert crashed not in _workers(proc.pid)
            [replacement] = [w for w in _workers(proc.pid) if w not in before]
            while not (folder / f"gauge_livesum_{replacement}.db").exists():
                assert time.monotonic() < deadline, "the replacement never opened its pool"
                time.sleep(0.1)
            assert pool_size_seen(metrics_port, 2 * int(TEST_POOL_SIZE)) == 2 * int(TEST_POOL_SIZE)
            text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
            requests = {"method": "GET", "route": "/v1/collection_cases", "status": "200"}
            assert value(text, "collection_cases_http_requests_total", **requests) == 40
        finally:
            stop(proc)


def _workers(parent: int) -> list[int]:
    """The worker processes uvicorn spawned under `parent` (not its resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return sorted(found)


class TestGcFreeze:
    @pytest.mark.parametrize("freeze", [True, False], ids=["default", "turned_off"])
    async def test_startup_objects_are_frozen_unless_turned_off(self, settings, pool, freeze):
        """Once started, a process moves what it built out of the collector's passes (a full
        collection walking ~150,000 startup objects paused every request in flight: p99 at
        2 workers went from ~100 ms to ~40 ms, bench/README.md); /metrics shows how many."""
        app = create_app(settings.model_copy(update={"gc_freeze": freeze}), pool=pool)
        gc.unfreeze()  # this test process's own state, whatever ran before
        try:
            async with app.router.lifespan_context(app):
                frozen = gc.get_freeze_count()
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                    text = (await c.get("/metrics")).text
        finally:
            gc.unfreeze()
        shown = value(text, "collection_cases_gc_frozen_objects")
        if freeze:
            assert frozen > 50_000
            assert shown >= frozen  # counted at startup; a few frozen objects were freed since
        else:
            assert frozen == 0
            assert shown == 0


class TestTraces:
    @pytest.fixture
    def exporter(self):  # type: ignore[no-untyped-def]
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        yield provider, exporter
        db.trace_with(None)  # the next apps do not trace

    async def test_spans_of_one_create(self, settings, pool, account, exporter):
        provider, spans = exporter
        app = create_app(settings, pool=pool, tracer_provider=provider)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.post("/v1/collection_cases", json=case_body(), headers=account.headers)
        assert r.status_code == 201
        finished = spans.get_finished_spans()
        names = [s.name for s in finished]
        server = next(s for s in finished if s.name == "POST /v1/collection_cases")
        assert server.attributes["http.response.status_code"] == 201
        assert server.attributes["http.route"] == "/v1/collection_cases"
        queries = [s for s in finished if s.name.startswith("db ")]
        assert {"db INSERT", "db SELECT"} <= {s.name for s in queries}, names
        assert any("INSERT INTO collection_cases" in s.attributes["db.statement"] for s in queries)
        assert any("INSERT INTO events" in s.attributes["db.statement"] for s in queries)
        # One trace: every database span belongs to the request's.
        assert {s.context.trace_id for s in queries} == {server.context.trace_id}

    async def test_no_spans_and_no_tracer_when_off(self, settings, pool, account):
        app = create_app(settings, pool=pool)
        assert db.tracer() is None
        assert app._native_telemetry.enabled() is False
