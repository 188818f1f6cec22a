"""End to end: real `collection-cases serve` processes, driven with curl as the docs show."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from collection_cases import migrate
from collection_cases.config import DEMO_KEY
from tests.factories import case_body
from tests.live import CLI, free_port, serve, stop, wait_healthy

pytestmark = pytest.mark.e2e

DOCS = Path(__file__).parent / "data" / "collection_cases_docs.txt"


def docs_curl_commands() -> list[str]:
    """Every curl command on the documented page, cut where the command ends."""
    text = DOCS.read_text()
    commands = []
    for match in re.finditer(r"curl ", text):
        i, quote, out = match.start(), None, []
        while i < len(text):
            ch = text[i]
            if quote:
                out.append(ch)
                if ch == quote:
                    quote = None
                    nxt = text[i + 1] if i + 1 < len(text) else "\n"
                    if nxt not in " \n\\":  # docs glue the next heading onto the quote
                        break
            elif ch in "'\"":
                quote = ch
                out.append(ch)
            elif ch == "\\" and text[i + 1 : i + 2] == "\n":
                out.append(" ")
                i += 1
            elif ch == "\n":
                break
            else:
                out.append(ch)
            i += 1
        commands.append("".join(out).strip())
    return commands


def run_curl(
    command: str, base: str, replacements: dict[str, str], cwd: Path | None = None
) -> dict:
    command = command.replace("https://api.casapay.com", base)
    for old, new in replacements.items():
        command = command.replace(old, new)
    result = subprocess.run(
        ["bash", "-c", command + " -sS -w '\\n%{http_code}'"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=cwd,
    )
    body, _, status = result.stdout.rpartition("\n")
    return {"status": int(status), "body": json.loads(body)}


def test_docs_page_has_the_seed_commands() -> None:
    commands = docs_curl_commands()
    assert len(commands) == 5
    assert commands[0].startswith("curl https://api.casapay.com/v1/collection_cases ")


def test_two_processes_start_together_on_an_empty_database(fresh_database: str) -> None:
    env = {**os.environ, "DATABASE_URL": fresh_database, "COLLECTION_CASES_LOG_LEVEL": "warning"}
    ports = [free_port(), free_port()]
    procs = [serve(p, env) for p in ports]
    try:
        for port, proc in zip(ports, procs, strict=True):
            wait_healthy(f"http://127.0.0.1:{port}", proc)
        assert migrate.current_revision(fresh_database) == migrate.head_revision()
        # No demo key on an external database: the operator creates keys.
        r = httpx.get(
            f"http://127.0.0.1:{ports[0]}/v1/collection_cases",
            headers={"Authorization": f"Bearer {DEMO_KEY}"},
        )
        assert r.status_code == 401
        created = subprocess.run(
            [CLI, "keys", "create", "--account", "ops-test"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        key = created.stdout.strip()
        assert key.startswith("sk_test_")
        headers = {"Authorization": f"Bearer {key}"}
        case = httpx.post(
            f"http://127.0.0.1:{ports[0]}/v1/collection_cases", json=case_body(), headers=headers
        ).json()
        fetched = httpx.get(
            f"http://127.0.0.1:{ports[1]}/v1/collection_cases/{case['id']}", headers=headers
        )
        assert fetched.json() == case
        readonly = subprocess.run(
            [CLI, "keys", "create", "--account", "ops-test", "--read-only", "--live"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert readonly.startswith("rk_live_")
    finally:
        for proc in procs:
            stop(proc)


def test_docs_curl_commands_on_the_embedded_default() -> None:
    """`serve` with no DATABASE_URL: embedded PostgreSQL, demo key, docs pasted as they are,
    and a secret key generated into the data dir on first start (and said so)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "DATABASE_URL" and not k.startswith("COLLECTION_CASES_SECRET")
    }
    data_dir = Path(tempfile.mkdtemp(prefix="cc-e2e-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = serve(port, env, "--data-dir", str(data_dir))
    try:
        wait_healthy(base, proc, timeout=90)
        create, retrieve, by_ref, listing, upload = docs_curl_commands()
        created = run_curl(create, base, {})
        assert created["status"] == 201
        case = created["body"]
        assert case["status"] == "active"
        assert case["collection_partner"]["name"] == "CollectMax GmbH"
        assert case["due_date"] == 1730419200
        ids = {"dc_a1b2c3d4": case["id"], "Q8OAXF3W": case["reference"]}
        assert run_curl(retrieve, base, ids) == {"status": 200, "body": case}
        assert run_curl(by_ref, base, ids) == {"status": 200, "body": case}
        listed = run_curl(listing, base, ids)
        assert listed["status"] == 200
        assert listed["body"]["data"][0] == case

        # The upload, as pasted, with a real PDF named invoice.pdf in the working directory.
        work = data_dir / "work"
        work.mkdir()
        pdf = (Path(__file__).parent / "data" / "invoice.pdf").read_bytes()
        (work / "invoice.pdf").write_bytes(pdf)
        uploaded = run_curl(upload, base, ids, cwd=work)
        assert uploaded["status"] == 201
        assert uploaded["body"]["filename"] == "invoice.pdf"
        assert uploaded["body"]["type"] == "pdf"
        download = httpx.get(
            base + uploaded["body"]["url"], headers={"Authorization": f"Bearer {DEMO_KEY}"}
        )
        assert download.content == pdf
        assert list((data_dir / "files").rglob(uploaded["body"]["id"]))

        # The CLI works beside the running server, on the same embedded database.
        created_key = subprocess.run(
            [CLI, "keys", "create", "--account", "second", "--data-dir", str(data_dir)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        other = httpx.get(
            f"{base}/v1/collection_cases", headers={"Authorization": f"Bearer {created_key}"}
        )
        assert other.status_code == 200
        assert other.json()["data"] == []
        assert httpx.get(f"{base}/healthz").status_code == 200

        # Webhook secrets are sealed with the generated key, which the CLI finds too.
        hook = httpx.post(
            f"{base}/v1/webhook_endpoints",
            headers={"Authorization": f"Bearer {DEMO_KEY}"},
            json={"url": "http://localhost:9/hooks", "enabled_events": ["*"]},
        )
        assert hook.status_code == 201
        rotated = subprocess.run(
            [CLI, "secrets", "rotate", "--data-dir", str(data_dir)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert rotated.returncode == 0, rotated.stderr
        assert rotated.stdout.strip().startswith("re-encrypted 0 of 1 webhook secrets and")
    finally:
        output = stop(proc)
        stopped = not (data_dir / "postgres" / "postmaster.pid").exists()
        key_file = data_dir / "secret_key"
        key = key_file.read_text().strip() if key_file.exists() else ""
        key_mode = key_file.stat().st_mode & 0o777 if key_file.exists() else None
        shutil.rmtree(data_dir, ignore_errors=True)
    assert f"http://127.0.0.1:{port}" in output
    assert DEMO_KEY in output
    assert f"Generated a secret key into {key_file.resolve()}" in output
    assert len(key) >= 32
    assert key_mode == 0o600
    # The embedded database stopped with the server that started it.
    assert stopped


@pytest.mark.parametrize(("trusted", "scheme"), [("10.9.9.9", "http"), ("127.0.0.1", "https")])
def test_forwarded_headers_only_from_the_proxies_named(
    fresh_database: str, trusted: str, scheme: str
) -> None:
    """Behind a TLS-terminating proxy the links the server writes say https, but only when
    the X-Forwarded-Proto comes from an address the operator trusts."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": fresh_database,
        "COLLECTION_CASES_FORWARDED_ALLOW_IPS": trusted,
        "FORWARDED_ALLOW_IPS": "*",  # the setting wins over uvicorn's own variable
    }
    proc = serve(port, env)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, proc)
        r = httpx.get(f"{base}/v1/collection_cases", headers={"X-Forwarded-Proto": "https"})
        assert r.status_code == 401
        assert r.json()["error"]["doc_url"].startswith(f"{scheme}://127.0.0.1:{port}/docs/errors#")
    finally:
        stop(proc)


def test_an_external_database_needs_a_secret_key(fresh_database: str) -> None:
    """No key, no start: a key made up by one process would be unknown to the others."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLLECTION_CASES_SECRET")}
    env["DATABASE_URL"] = fresh_database
    for command in (["serve", "--port", str(free_port())], ["worker"]):
        result = subprocess.run(
            [CLI, *command], env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 2
        assert "COLLECTION_CASES_SECRET_KEY is not set" in result.stderr
        assert "collection-cases secrets generate-key" in result.stderr
    assert migrate.current_revision(fresh_database) is None  # refused before touching it


def test_webhooks_from_serve_and_from_a_standalone_worker(fresh_database: str) -> None:
    """serve delivers webhooks itself; with its worker off, `collection-cases worker` does."""
    from tests.events.receiver import Receiver

    base_env = {
        **os.environ,
        "DATABASE_URL": fresh_database,
        "COLLECTION_CASES_LOG_LEVEL": "warning",
    }
    receiver = Receiver()
    url = receiver.start()
    key = subprocess.run(
        [CLI, "keys", "create", "--account", "hooks"],
        env=base_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    headers = {"Authorization": f"Bearer {key}"}
    procs: list[subprocess.Popen[str]] = []
    try:
        for run_worker in ("true", "false"):
            port = free_port()
            env = {**base_env, "COLLECTION_CASES_RUN_WORKER": run_worker}
            proc = serve(port, env)
            procs.append(proc)
            wait_healthy(f"http://127.0.0.1:{port}", proc)
            if run_worker == "false":
                procs.append(
                    subprocess.Popen(
                        [CLI, "worker"],
                        env=base_env,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        text=True,
                    )
                )
            api = f"http://127.0.0.1:{port}/v1"
            if run_worker == "true":
                httpx.post(
                    f"{api}/webhook_endpoints",
                    headers=headers,
                    json={"url": url, "enabled_events": ["collection_case.created"]},
                ).raise_for_status()
            before = len(receiver.received)
            case = httpx.post(f"{api}/collection_cases", json=case_body(), headers=headers).json()
            deadline = time.monotonic() + 20
            while len(receiver.received) == before and time.monotonic() < deadline:
                time.sleep(0.2)
            assert len(receiver.received) == before + 1, run_worker
            assert receiver.received[-1].event["data"]["object"]["id"] == case["id"]
            if run_worker == "true":
                stop(procs.pop(0))
    finally:
        for proc in procs:
            stop(proc)
        receiver.stop()
