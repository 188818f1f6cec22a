"""Errors under /dashboard answer as pages, not as the API's JSON.

The dashboard's routes render their own errors (DashboardRoute), but some answers are given
before or around them, in the API's shape: the body limit's 413 and the last-resort 500 of the
request middleware, the database's 503, an unknown URL's 404, a wrong method's 405. The request
middleware sends through `error_pages` for a /dashboard path, inside BodyGuard's send (so its
lingering close still follows the answer) and outside its own (which adds Request-Id): a JSON
error answer is replaced by the dashboard's error page with the same status, message and
headers (Request-Id, Retry-After, Allow...). Everything else, and every other path, passes
through untouched.
"""

from __future__ import annotations

import logging

import orjson
from starlette.requests import Request
from starlette.types import Message, Scope, Send

from collection_cases.errors import ApiError

log = logging.getLogger("collection_cases.error")

PREFIX = "/dashboard"
_FALLBACK = "The dashboard could not answer this request."
# The API answer's headers that the page replaces with its own.
_REPLACED = {b"content-type", b"content-length"}


def is_dashboard(scope: Scope) -> bool:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path == PREFIX or path.startswith(PREFIX + "/")


def _is_json_error(message: Message) -> bool:
    if message["status"] < 400:
        return False
    for name, value in message.get("headers", []):
        if name.lower() == b"content-type":
            return bool(value.lower().startswith(b"application/json"))
    return False


def _message_of(body: bytes) -> str:
    try:
        message = orjson.loads(body)["error"]["message"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return _FALLBACK
    return message if isinstance(message, str) and message else _FALLBACK


def _page(scope: Scope, start: Message, body: bytes) -> tuple[Message, bytes]:
    """The error page standing for the JSON error `start` + `body`."""
    from collection_cases.web.dashboard.router import error_page

    error = ApiError(_message_of(body))
    error.status_code = start["status"]
    page = error_page(Request(scope), error)
    own = {name.lower() for name, _ in page.raw_headers}
    kept = [
        (name, value)
        for name, value in start.get("headers", [])
        if name.lower() not in _REPLACED and name.lower() not in own
    ]
    return {**start, "headers": [*page.raw_headers, *kept]}, bytes(page.body)


def error_pages(scope: Scope, send: Send) -> Send:
    """The send of a /dashboard request (`is_dashboard`): a JSON error answer goes out as the
    error page, everything else as it is."""
    held: Message | None = None
    chunks: list[bytes] = []

    async def send_page(message: Message) -> None:
        nonlocal held
        if message["type"] == "http.response.start" and _is_json_error(message):
            held = message  # an error in the API's shape: wait for its body
            return
        if held is None or message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(chunks)
        try:
            start, page = _page(scope, held, body)
        except Exception:  # the page failed: the API's answer is still an answer
            log.exception("dashboard error page failed")
            start, page = held, body
        await send(start)
        await send({"type": "http.response.body", "body": page})

    return send_page
