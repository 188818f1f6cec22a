"""The one request layer of our own: request ids, body size limits, access log, last-resort
errors; and, around those, the body's idle timeout and lingering close (`request_body.py`)
and the dashboard's error pages (`web/dashboard/errors.py`).

One layer, not three middlewares: each would add its own call and frame to every request,
and the first two only wrap `send` and `receive` when a request has a body or is under
/dashboard. Their order is kept in the wrapping: BodyGuard's send is the outermost (it sees
every answer), then the dashboard's, then the one adding Request-Id."""

from __future__ import annotations

import logging
import os
import re
import time

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collection_cases import db, errors, metrics
from collection_cases.errors import ApiError, InternalError, PayloadTooLarge
from collection_cases.request_body import BodyGuard
from collection_cases.web.dashboard.errors import error_pages, is_dashboard

log = logging.getLogger("collection_cases.access")
error_log = logging.getLogger("collection_cases.error")


class BodyTooLarge(PayloadTooLarge):
    pass


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_json_body_bytes: int,
        body_timeout: float,
        max_drain_bytes: int,
        metrics: bool = True,
    ) -> None:
        self.app = app
        self.max_json_body_bytes = max_json_body_bytes
        self.body_guard = BodyGuard(body_timeout=body_timeout, max_drain_bytes=max_drain_bytes)
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        receive, send = self.body_guard.wrap(scope, receive, send)
        if is_dashboard(scope):
            send = error_pages(scope, send)
        # os.urandom is what secrets.token_hex reads, without its three Python calls.
        request_id = "req_" + os.urandom(12).hex()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        # Error bodies link to the error reference on the host this request reached.
        base_token = errors.set_base_url(scope)
        started = time.perf_counter()
        status = 500
        answered = False  # the response has started
        header_id = request_id.encode()

        async def send_wrapper(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status = message["status"]
                answered = True
                headers = [*message.get("headers", []), (b"request-id", header_id)]
                version = state.get("api_version")
                if version is not None:
                    headers.append((b"casapay-version", version.encode()))
                message["headers"] = headers
            await send(message)

        limit = self._limit(scope)
        if limit is not None:
            declared = _content_length(scope)
            if declared is not None and declared > limit:
                await self._error(send_wrapper, BodyTooLarge(_too_large(limit)), request_id)
                self._log(scope, request_id, 413, started)
                errors.reset_base_url(base_token)
                return
            receive = _limited(receive, limit)

        try:
            await self.app(scope, receive, send_wrapper)
        except ClientDisconnect:
            # The client went away mid-request; nothing to answer, nothing went wrong here.
            status = 499
        except Exception as exc:  # the last resort: never a traceback to the client
            if isinstance(exc, ApiError):
                error: ApiError = exc
            else:
                error_log.exception("unhandled error", extra={"fields": {"request_id": request_id}})
                error = InternalError("An unexpected error occurred; it has been logged.")
            if not answered:
                await self._error(send_wrapper, error, request_id)
        finally:
            # A read's connection (db.hold) goes back once the answer is out.
            await db.release(state)
            if self.metrics:
                metrics.observe_request(scope, status, time.perf_counter() - started)
            self._log(scope, request_id, status, started)
            errors.reset_base_url(base_token)

    def _limit(self, scope: Scope) -> int | None:
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return None
        if scope["method"] == "POST" and _UPLOAD_PATH.fullmatch(scope["path"]):
            return None  # the upload route enforces its own, larger limit while streaming
        return self.max_json_body_bytes

    async def _error(self, send: Send, error: ApiError, request_id: str) -> None:
        response = error.response()
        await response({"type": "http"}, _empty_receive, send)

    def _log(self, scope: Scope, request_id: str, status: int, started: float) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        log.info(
            "request",
            extra={
                "fields": {
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                }
            },
        )


# The one route whose body may exceed the JSON limit: any other multipart body is held to it,
# since the route it reaches reads it whole (to fingerprint it for idempotency, or to refuse it).
_UPLOAD_PATH = re.compile(r"/v1/collection_cases/[^/]+/files")


def _too_large(limit: int) -> str:
    return f"The request body is larger than the {limit} bytes allowed."


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _limited(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(_too_large(limit))
        return message

    return wrapped


async def _empty_receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}
