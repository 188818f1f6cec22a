"""Request bodies from slow or abrupt clients: an idle timeout, and no answer lost to a reset.

- **Idle timeout**: while a request body is being read, each chunk must arrive within
  `COLLECTION_CASES_REQUEST_BODY_TIMEOUT_SECONDS` of the last (a slow upload that keeps moving
  is fine; a stalled one is not): 408 in the documented shape, and the connection is closed.
- **Early answers**: when the app answers before it has read the whole body (413 on a body over
  the limit, JSON or multipart, or any other error), the connection must be closed after the
  answer, and closing a socket with unread data makes the kernel send a reset, which can destroy
  the answer before the client reads it. A client that sends `Connection: close` and writes its
  whole body before reading (Python's urllib does) would see a reset instead of the 413. So the
  answer is sent at once with `Connection: close`, then the rest of the body is read and
  discarded, up to `COLLECTION_CASES_MAX_DRAIN_BYTES` and `LINGER_SECONDS`, and only then is the
  response completed and the connection closed (what nginx calls lingering close).
  A client that asked `Expect: 100-continue` gets the answer instead of the 100 and sends nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.types import Message, Receive, Scope, Send

from collection_cases.errors import RequestTimeout

LINGER_SECONDS = 30.0  # at most this long spent draining a body nobody will read


@dataclass
class _Body:
    expected: bool  # the request declares a body
    declared: int | None  # its Content-Length, if any
    expect_continue: bool  # the client waits for "100 Continue" before sending it
    seen: int = 0
    done: bool = False  # the last chunk (or a disconnect) has been received
    timed_out: bool = False  # the client stalled mid-body


def _declared_body(scope: Scope) -> tuple[bool, int | None, bool]:
    length: int | None = None
    chunked = expect = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
        elif name == b"transfer-encoding":
            chunked = True
        elif name == b"expect":
            expect = value.lower() == b"100-continue"
    return chunked or bool(length), length, expect


class BodyGuard:
    """The idle timeout and the lingering close of one request body: `wrap` gives the receive
    and send the rest of the request uses. The request layer (`middleware.py`) applies it
    first, so its send is the last before the server's and sees every answer, the 413s of the
    body limit included."""

    def __init__(self, *, body_timeout: float, max_drain_bytes: int) -> None:
        self.body_timeout = body_timeout
        self.max_drain_bytes = max_drain_bytes

    def wrap(self, scope: Scope, receive: Receive, send: Send) -> tuple[Receive, Send]:
        expected, declared, expect_continue = _declared_body(scope)
        if not expected:
            # Nothing to time out and nothing to drain (GETs, mostly): no wrapping at all.
            return receive, send
        body = _Body(expected, declared, expect_continue)
        draining = False

        async def guarded_receive() -> Message:
            if body.done:  # later reads wait for a disconnect: no timeout on those
                return await receive()
            try:
                async with asyncio.timeout(self.body_timeout):
                    message = await receive()
            except TimeoutError:
                body.timed_out = True  # the answer closes the connection; nothing is drained
                raise RequestTimeout(
                    f"No part of the request body arrived for {self.body_timeout:g} seconds."
                ) from None
            self._count(body, message)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal draining
            if message["type"] == "http.response.start" and not body.done:
                draining = True  # answered before the body was read: close after it
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            elif (
                message["type"] == "http.response.body"
                and draining
                and not message.get("more_body", False)
            ):
                await send({**message, "more_body": True})  # the client has the answer now
                await self._drain(receive, body)
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        return guarded_receive, guarded_send

    @staticmethod
    def _count(body: _Body, message: Message) -> None:
        if message["type"] == "http.request":
            body.seen += len(message.get("body", b""))
            if not message.get("more_body", False):
                body.done = True
        else:  # http.disconnect
            body.done = True

    async def _drain(self, receive: Receive, body: _Body) -> None:
        """Read and discard the rest of the body, within the bounds; then the close is clean."""
        if body.done or body.timed_out:
            return
        if body.expect_continue and body.seen == 0:
            return  # it got the answer instead of "100 Continue": no body is coming
        if body.declared is not None and body.declared - body.seen > self.max_drain_bytes:
            return  # too much to wait for: close now (the client may see a reset)
        budget = self.max_drain_bytes
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LINGER_SECONDS
        while not body.done and budget >= 0:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            before = body.seen
            try:
                async with asyncio.timeout(min(self.body_timeout, remaining)):
                    message = await receive()
            except TimeoutError:
                return
            self._count(body, message)
            budget -= body.seen - before
