"""Real webhook receivers for tests: HTTP servers on 127.0.0.1 that record what arrives and
answer as told (status, delay), or dawdle over their answer (`SlowReceiver`), or answer with
a body without end (`HugeReceiver`)."""

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
    stopping: threading.Event = field(default_factory=threading.Event)

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
                receiver.answer(self, status)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def answer(self, handler: BaseHTTPRequestHandler, status: int) -> None:
        handler.send_response(status)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


@dataclass
class SlowReceiver(Receiver):
    """Answers 200, slowly. `part="head"`: the status line, then one byte of a header every
    `every` seconds, never done. `part="body"`: the whole head (a megabyte of body announced),
    then one byte of the body every `every` seconds. Either way it goes on until the client
    goes away (`gone_at`, monotonic) or the receiver stops."""

    part: str = "head"
    every: float = 1.0
    answering: threading.Event = field(default_factory=threading.Event)
    gone_at: float | None = None
    trickled: int = 0

    def answer(self, handler: BaseHTTPRequestHandler, status: int) -> None:
        self.answering.set()
        if self.part == "head":
            start = f"HTTP/1.1 {status} OK\r\nX-Slow: ".encode()
        else:
            start = f"HTTP/1.1 {status} OK\r\nContent-Length: 1048576\r\n\r\n".encode()
        try:
            handler.wfile.write(start)
            while not self.stopping.wait(self.every):
                handler.wfile.write(b"a")
                self.trickled += 1
        except OSError:
            self.gone_at = time.monotonic()
        handler.close_connection = True


@dataclass
class HugeReceiver(Receiver):
    """Answers 200 with a chunked body of `size` bytes, as fast as the client reads it:
    `sent` counts the body bytes the connection took, `finished` whether it took them all."""

    size: int = 200 * 1024 * 1024
    sent: int = 0
    finished: bool = False
    gone: bool = False

    def answer(self, handler: BaseHTTPRequestHandler, status: int) -> None:
        chunk = b"x" * (256 * 1024)
        framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        try:
            handler.wfile.write(
                f"HTTP/1.1 {status} OK\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
            )
            while self.sent < self.size and not self.stopping.is_set():
                handler.wfile.write(framed)
                self.sent += len(chunk)
            handler.wfile.write(b"0\r\n\r\n")
            self.finished = self.sent >= self.size
        except OSError:
            self.gone = True
        handler.close_connection = True
