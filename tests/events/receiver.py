"""A real webhook receiver for tests: an HTTP server on 127.0.0.1 that records what arrives
and answers as told (status, delay)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson


@dataclass
class Received:
    body: bytes
    signature: str
    path: str = "/"

    @property
    def event(self) -> dict:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    # What to answer, in order; the last entry repeats. (status, delay in seconds)
    script: list[tuple[int, float]] = field(default_factory=lambda: [(200, 0.0)])
    received: list[Received] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)  # the Host header of every request
    hits: int = 0

    def start(self) -> str:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                index = min(receiver.hits, len(receiver.script) - 1)
                receiver.hits += 1
                receiver.hosts.append(self.headers.get("Host", ""))
                status, delay = receiver.script[index]
                if delay:
                    time.sleep(delay)
                if 200 <= status < 300:
                    receiver.received.append(
                        Received(body, self.headers.get("X-CasaPay-Signature", ""), self.path)
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
