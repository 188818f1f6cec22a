"""What uvicorn's HTTP protocol lacks against slow clients, added in a small subclass.

uvicorn (httptools) closes a keep-alive connection idle between requests
(`timeout_keep_alive`, our `COLLECTION_CASES_KEEP_ALIVE_TIMEOUT_SECONDS`), but nothing bounds how
long a connection may take to send a request head: an idle connection, a half-sent header or a
single byte stays open until the client gives up, and slow connections are bounded only by file
descriptors. This protocol adds, per connection:

- a deadline for the request head (`COLLECTION_CASES_REQUEST_HEADER_TIMEOUT_SECONDS`), counted
  from the connection, or from the first byte of the next request on a keep-alive connection,
  to the end of the headers. Trickling bytes does not extend it. A connection that sent nothing
  is closed; one with a half-sent head gets a 408 in the documented error shape, then closed;
- a cap on open connections per process (`COLLECTION_CASES_MAX_CONNECTIONS`): a request on a
  connection beyond it gets 503 (documented shape, `Retry-After`, `Connection: close`). uvicorn's
  own `limit_concurrency` does the same but answers in plain text.

Request bodies (idle timeout, draining before a 413 and close) are handled in the ASGI layer,
`request_body.py`, where the error shape and the body's progress are known.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from collection_cases.config import get_settings
from collection_cases.errors import ApiError, RequestTimeout, ServiceUnavailable


def raw_error(error: ApiError, reason: bytes) -> bytes:
    """A complete HTTP/1.1 error response that closes the connection, as bytes."""
    body = orjson.dumps(error.body())
    return b"".join(
        [
            b"HTTP/1.1 %d %s\r\n" % (error.status_code, reason),
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"request-id: req_" + secrets.token_hex(12).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
    )


async def over_capacity(scope: Scope, receive: Receive, send: Send) -> None:
    """The answer on a connection beyond the cap."""
    error = ServiceUnavailable(
        "This server is at its connection limit; retry shortly.",
        headers={"Retry-After": "1", "Connection": "close"},
    )
    await error.response("req_" + secrets.token_hex(12))(scope, receive, send)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request-head deadline and a connection cap."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        settings = get_settings()
        self.head_timeout = settings.request_header_timeout_seconds
        self.max_connections = settings.max_connections
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_begun = False  # bytes of a request head have arrived

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_begun = True
        if self._head_timer is None:  # the next request on a kept-alive connection
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        self._head_begun = False
        if len(self.connections) <= self.max_connections:
            super().on_headers_complete()
            return
        # uvicorn starts `self.app` for the request: this once, the over-capacity answer.
        app, self.app = self.app, over_capacity
        try:
            self.logger.warning("connection limit reached (%d)", self.max_connections)
            super().on_headers_complete()
        finally:
            self.app = app

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        answering = self.cycle is not None and not self.cycle.response_complete
        if self._head_begun and not answering:
            error = RequestTimeout(
                f"The request head did not arrive within {self.head_timeout:g} seconds."
            )
            self.transport.write(raw_error(error, b"Request Timeout"))
        self.transport.close()
