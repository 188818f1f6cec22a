"""Slow and abrupt clients against a real `collection-cases serve`, over raw sockets and urllib:
idle and half-sent requests closed at the deadline while others are served, a connection cap,
and a 413 every client reads (Connection: close, JSON and multipart)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import httpx
import pytest

from tests.factories import case_body
from tests.test_e2e import CLI, free_port, serve, stop, wait_healthy

pytestmark = pytest.mark.e2e

HEAD_TIMEOUT = 1.5
BODY_TIMEOUT = 1.5
MAX_CONNECTIONS = 8
UPLOAD_LIMIT = 1024 * 1024


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[tuple[str, int, str]]:
    """One `serve` with short timeouts and a small connection cap: (base URL, port, key)."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "COLLECTION_CASES_LOG_LEVEL": "warning",
        "COLLECTION_CASES_RUN_WORKER": "false",
        "COLLECTION_CASES_REQUEST_HEADER_TIMEOUT_SECONDS": str(HEAD_TIMEOUT),
        "COLLECTION_CASES_REQUEST_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
        "COLLECTION_CASES_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
        "COLLECTION_CASES_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
        "COLLECTION_CASES_RATE_LIMIT_PER_SECOND": "0",
    }
    key = subprocess.run(
        [CLI, "keys", "create", "--account", f"slow-{os.getpid()}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    port = free_port()
    proc = serve(port, env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc)
        yield base, port, key
    finally:
        stop(proc)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        data = sock.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def split(response: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return status, headers, body


def healthz_time(base: str) -> float:
    started = time.monotonic()
    assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    return time.monotonic() - started


class TestSlowHeads:
    def test_idle_connection_is_closed_at_the_deadline(self, server):
        base, port, _ = server
        sock = connect(port)
        started = time.monotonic()
        assert healthz_time(base) < HEAD_TIMEOUT  # served while the idle connection waits
        assert read_until_closed(sock) == b""  # closed without a word: nothing was asked
        assert HEAD_TIMEOUT - 0.3 < time.monotonic() - started < HEAD_TIMEOUT + 3

    @pytest.mark.parametrize(
        "sent", [b"G", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"POST /v1/collection"]
    )
    def test_half_sent_head_gets_408_and_is_closed(self, server, sent):
        base, port, _ = server
        sock = connect(port)
        started = time.monotonic()
        sock.sendall(sent)
        assert healthz_time(base) < HEAD_TIMEOUT
        status, headers, body = split(read_until_closed(sock))
        elapsed = time.monotonic() - started
        assert status == "HTTP/1.1 408 Request Timeout"
        assert headers["connection"] == "close"
        assert headers["request-id"].startswith("req_")
        error = json.loads(body)["error"]
        assert (error["type"], error["code"]) == ("invalid_request_error", "request_timeout")
        assert HEAD_TIMEOUT - 0.3 < elapsed < HEAD_TIMEOUT + 3

    def test_trickled_head_does_not_extend_the_deadline(self, server):
        _, port, _ = server
        sock = connect(port)
        started = time.monotonic()
        request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 1000
        try:
            for byte in request:  # a byte every 0.1 s: never idle, never done
                sock.sendall(bytes([byte]))
                time.sleep(0.1)
        except OSError:
            pass  # closed on us, as it should be
        response = read_until_closed(sock)
        assert response.startswith(b"HTTP/1.1 408")
        assert time.monotonic() - started < HEAD_TIMEOUT + 3

    def test_keep_alive_then_idle_is_closed(self, server):
        _, port, _ = server
        sock = connect(port)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = b""
        while not first.endswith(b'{"status":"ok"}'):  # the whole first answer, kept alive
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        sock.sendall(b"GET /heal")  # the next request stalls mid-line
        status, _, _ = split(read_until_closed(sock))
        assert status == "HTTP/1.1 408 Request Timeout"
        assert time.monotonic() - started < HEAD_TIMEOUT + 3


class TestSlowBodies:
    def test_stalled_body_gets_408_and_is_closed(self, server):
        base, port, key = server
        sock = connect(port)
        sock.sendall(
            b"POST /v1/collection_cases HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer " + key.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            b'{"amount_to'
        )
        started = time.monotonic()
        assert healthz_time(base) < HEAD_TIMEOUT
        status, headers, body = split(read_until_closed(sock))
        assert status == "HTTP/1.1 408 Request Timeout"
        assert headers["connection"] == "close"
        assert json.loads(body)["error"]["code"] == "request_timeout"
        assert BODY_TIMEOUT - 0.3 < time.monotonic() - started < BODY_TIMEOUT + 3

    def test_slow_body_that_keeps_moving_is_served(self, server):
        base, port, key = server
        body = json.dumps(case_body()).encode()
        sock = connect(port)
        sock.sendall(
            b"POST /v1/collection_cases HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"Authorization: Bearer " + key.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        pieces = [body[i : i + len(body) // 4 + 1] for i in range(0, len(body), len(body) // 4 + 1)]
        for piece in pieces:  # whole body takes longer than the timeout, no gap does
            time.sleep(BODY_TIMEOUT * 0.6)
            sock.sendall(piece)
        status, _, _ = split(read_until_closed(sock))
        assert status == "HTTP/1.1 201 Created"


class TestConnectionCap:
    def test_beyond_the_cap_503_then_served_again(self, server):
        base, port, _ = server
        held = [connect(port) for _ in range(MAX_CONNECTIONS)]
        try:
            time.sleep(0.2)
            sock = connect(port)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            status, headers, body = split(read_until_closed(sock))
            assert status == "HTTP/1.1 503 Service Unavailable"
            assert headers["retry-after"] == "1"
            assert headers["connection"] == "close"
            error = json.loads(body)["error"]
            assert (error["type"], error["code"]) == ("api_error", "service_unavailable")
        finally:
            for s in held:
                s.close()
        time.sleep(0.3)
        assert healthz_time(base) < HEAD_TIMEOUT


def urllib_post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:  # type: ignore[type-arg]
    """POST as Python's urllib does it: Connection: close, the whole body before reading."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class TestAbrupt413:
    @pytest.mark.parametrize("size", [2 * 1024 * 1024, 8 * 1024 * 1024])
    def test_json_over_the_limit_with_urllib(self, server, size):
        base, _, key = server
        body = b'{"metadata": {"a": "' + b"x" * size + b'"}}'
        for _ in range(3):  # a reset would show up as an exception, not as a flaky 413
            status, answer = urllib_post(
                f"{base}/v1/collection_cases",
                body,
                {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            )
            assert status == 413
            assert answer["error"]["code"] == "payload_too_large"

    def test_multipart_over_the_limit_with_urllib(self, server):
        base, _, key = server
        auth = {"Authorization": f"Bearer {key}"}
        case = httpx.post(f"{base}/v1/collection_cases", json=case_body(), headers=auth).json()
        boundary = "cc-boundary-7f3a"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="document_type"\r\n\r\n'
            f"original_invoice\r\n--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        body += b"%PDF-1.4\n" + b"0" * (3 * UPLOAD_LIMIT) + f"\r\n--{boundary}--\r\n".encode()
        for _ in range(3):
            status, answer = urllib_post(
                f"{base}/v1/collection_cases/{case['id']}/files",
                body,
                {**auth, "Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
            assert status == 413
            assert (answer["error"]["code"], answer["error"]["param"]) == (
                "payload_too_large",
                "file",
            )

    def test_chunked_body_over_the_limit_with_connection_close(self, server):
        """No Content-Length: the limit is crossed while reading; the rest is drained."""
        _, port, key = server
        sock = connect(port)
        sock.sendall(
            b"POST /v1/collection_cases HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"Authorization: Bearer " + key.encode() + b"\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"x" * 65536
        for _ in range(40):  # 2.5 MiB
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        sock.sendall(b"0\r\n\r\n")
        status, headers, body = split(read_until_closed(sock))
        assert status == "HTTP/1.1 413 Request Entity Too Large"
        assert headers["connection"] == "close"
        assert json.loads(body)["error"]["code"] == "payload_too_large"

    def test_expect_continue_gets_the_413_instead_and_no_wait(self, server):
        """curl sends `Expect: 100-continue` for big bodies: it gets the 413 instead of the
        100, sends nothing, and the connection closes at once."""
        _, port, key = server
        sock = connect(port)
        sock.sendall(
            b"POST /v1/collection_cases HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer " + key.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 2097152\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        started = time.monotonic()
        status, headers, _ = split(read_until_closed(sock))
        assert status == "HTTP/1.1 413 Request Entity Too Large"
        assert time.monotonic() - started < BODY_TIMEOUT - 0.5

    def test_body_beyond_the_drain_bound_is_not_waited_for(self, server):
        """A client that announces 10 GiB gets its 413 at once and the connection is closed:
        the server never reads gigabytes it will throw away."""
        _, port, key = server
        sock = connect(port)
        sock.sendall(
            b"POST /v1/collection_cases HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer " + key.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 10737418240\r\n\r\n"
        )
        started = time.monotonic()
        status, headers, _ = split(read_until_closed(sock))
        assert status == "HTTP/1.1 413 Request Entity Too Large"
        assert headers["connection"] == "close"
        assert time.monotonic() - started < 1.0
