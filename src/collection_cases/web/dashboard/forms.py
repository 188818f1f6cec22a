"""Reading the dashboard's form posts: URL-encoded only, and small.

Every dashboard form is a few short fields (the largest is a chat message of at most 10,000
characters), sent by our own pages as `application/x-www-form-urlencoded`. Anything else is
refused with 415 before a byte of the body is read: a multipart body would otherwise be parsed,
its files spooled to disk, before the CSRF token could be checked. A form over MAX_BYTES is
refused with 413, by its Content-Length when it declares one, else as soon as it has sent more.
"""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import Message

from collection_cases.errors import (
    InvalidRequestError,
    PayloadTooLarge,
    UnsupportedMediaType,
    printable,
)

FORM_TYPE = "application/x-www-form-urlencoded"
# A 10,000-character chat message of 4-byte characters, percent-encoded (12 bytes each), fits.
MAX_BYTES = 128 * 1024
# The largest form (a new key: name, expiry, one choice per resource, tokens) has about 15.
MAX_FIELDS = 50


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"This form is larger than the {MAX_BYTES // 1024} KiB a dashboard form may be."
    )


def _no_body(request: Request) -> bool:
    headers = request.headers
    return headers.get("content-length", "0") == "0" and "transfer-encoding" not in headers


def check_type(request: Request) -> None:
    """415 unless the request says it carries a URL-encoded form, or has no body at all (an
    empty form, which the CSRF check then refuses). Nothing is read."""
    content_type = request.headers.get("content-type", "")
    if not content_type and _no_body(request):
        return
    if content_type.partition(";")[0].strip().lower() != FORM_TYPE:
        sent = f"'{printable(content_type, 100)}'" if content_type else "no Content-Type"
        raise UnsupportedMediaType(
            f"Dashboard forms are sent as {FORM_TYPE}; this request has {sent}. Reload the "
            "page and try again."
        )


async def read_form(request: Request) -> FormData:
    """The posted form, within the bounds above (413 or 400 otherwise); the caller has
    checked its type (`check_type`) before looking anything up."""
    if _no_body(request):
        return FormData()
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BYTES:
        raise _too_large()
    seen = 0

    async def bounded() -> Message:
        nonlocal seen
        message = await request.receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > MAX_BYTES:
                raise _too_large()
        return message

    try:
        return await Request(request.scope, bounded).form(
            max_files=0, max_fields=MAX_FIELDS, max_part_size=MAX_BYTES
        )
    except HTTPException as exc:  # Starlette's parser: too many fields
        raise InvalidRequestError(f"This form cannot be read: {exc.detail}") from None
