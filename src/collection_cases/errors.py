"""Typed API errors, the one renderer of the documented error body, and the error catalogue.

The catalogue (ERROR_TYPES, ERROR_CODES) is what /docs/errors renders and what the tests check
against every `type` and `code` the code can answer; each `doc_url` points at its anchor there.
"""

from __future__ import annotations

import re
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Scope

ERRORS_PATH = "/docs/errors"

# The request being answered (None outside a request: the CLI), set by
# RequestContextMiddleware, so every error body links to this server's reference. Its base
# URL is worked out only when an error is rendered: most requests never need it.
_request_scope: ContextVar[Scope | None] = ContextVar("error_doc_scope", default=None)
_HOST = re.compile(r"(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")


def base_url(scope: Scope) -> str:
    """`http://host:port` (plus any root path) as the client addressed this server."""
    scheme = scope.get("scheme", "http")
    host = ""
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = value.decode("latin-1")
            break
    if not _HOST.fullmatch(host):
        # No usable Host header: the address the connection reached.
        server = scope.get("server") or ("127.0.0.1", None)
        address, port = server[0], server[1]
        host = f"[{address}]" if ":" in str(address) else str(address)
        if port and (scheme, port) not in (("http", 80), ("https", 443)):
            host += f":{port}"
    return f"{scheme}://{host}{scope.get('root_path', '')}"


def set_base_url(scope: Scope) -> Token[Scope | None]:
    """Make error bodies of this request link to its host; returns a token for reset."""
    return _request_scope.set(scope)


def reset_base_url(token: Token[Scope | None]) -> None:
    _request_scope.reset(token)


def doc_url(anchor: str) -> str:
    """The error reference's entry for a code (or type), absolute on the request's host."""
    scope = _request_scope.get()
    return f"{base_url(scope) if scope is not None else ''}{ERRORS_PATH}#{anchor}"


class ApiError(Exception):
    status_code = 500
    type = "api_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "type": self.type,
                "code": self.code,
                "message": self.message,
                "param": self.param,
                "doc_url": doc_url(self.code or self.type),
            }
        }

    def response(self, request_id: str | None = None) -> Response:
        headers = dict(self.headers)
        if request_id:
            headers["Request-Id"] = request_id
        return Response(
            orjson.dumps(self.body()),
            status_code=self.status_code,
            media_type="application/json",
            headers=headers,
        )


class InvalidRequestError(ApiError):
    status_code = 400
    type = "invalid_request_error"
    code = "parameter_invalid"


class ParameterMissing(InvalidRequestError):
    code = "parameter_missing"


class ParameterUnknown(InvalidRequestError):
    code = "parameter_unknown"


class StateInvalid(InvalidRequestError):
    code = "state_invalid"


class ValidationFailed(ApiError):
    status_code = 422
    type = "validation_error"
    code = "parameter_invalid"


class AuthenticationFailed(ApiError):
    status_code = 401
    type = "authentication_error"
    code = "api_key_invalid"


class PermissionDenied(ApiError):
    status_code = 403
    type = "invalid_request_error"
    code = "permission_denied"


class NotFound(ApiError):
    status_code = 404
    type = "invalid_request_error"
    code = "resource_not_found"


class MethodNotAllowed(ApiError):
    status_code = 405
    type = "invalid_request_error"
    code = "method_not_allowed"


class PayloadTooLarge(ApiError):
    status_code = 413
    type = "invalid_request_error"
    code = "payload_too_large"


class RequestTimeout(ApiError):
    status_code = 408
    type = "invalid_request_error"
    code = "request_timeout"


class UnsupportedMediaType(ApiError):
    status_code = 415
    type = "invalid_request_error"
    code = "content_type_invalid"


class ServiceUnavailable(ApiError):
    status_code = 503
    type = "api_error"
    code = "service_unavailable"


class InternalError(ApiError):
    status_code = 500
    type = "api_error"
    code = "internal_error"


def printable(value: str, limit: int = 64) -> str:
    """Client input made safe to echo in a message: bounded and valid UTF-8."""
    value = value[:limit].encode("utf-8", "replace").decode("utf-8")
    return "".join(ch if ch.isprintable() else "\ufffd" for ch in value)


def not_found(kind: str, ident: str, param: str | None = "id") -> NotFound:
    return NotFound(f"No such {kind}: '{printable(ident)}'", param=param)


_TYPE_ERRORS_SUFFIX = ("_type", "_parsing")
_TYPE_ERRORS = {"int_from_float", "model_attributes_type", "is_instance_of", "json_invalid"}


def _param(loc: tuple[int | str, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return printable(".".join(parts), 200) if parts else None


def from_validation_errors(errors: list[Any]) -> ApiError:
    """The first of pydantic's errors as one of ours.

    Missing -> 400 parameter_missing; unknown -> 400 parameter_unknown; wrong JSON type ->
    400 parameter_invalid; a well-formed value breaking a rule -> 422 validation_error.
    """
    err = errors[0]
    kind = err.get("type", "")
    param = _param(tuple(err.get("loc", ())))
    msg = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
    where = param or "request body"
    if kind == "missing":
        return ParameterMissing(f"Missing required param: {where}.", param=param)
    if kind == "extra_forbidden":
        return ParameterUnknown(f"Received unknown parameter: {where}.", param=param)
    if kind in _TYPE_ERRORS or kind.endswith(_TYPE_ERRORS_SUFFIX):
        return InvalidRequestError(f"Invalid value for {where}: {msg}.", param=param)
    return ValidationFailed(f"Invalid {where}: {msg}.", param=param)


# The error reference ----------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorDoc:
    """One entry of the error reference: a `type` or a `code`, its anchor is its name."""

    name: str
    answers: tuple[tuple[int, str], ...]  # (HTTP status, error type) pairs it comes with
    meaning: str
    fix: str
    example: str = ""  # a message as the server writes it
    param: str | None = None  # the example's `param`


_INVALID = "invalid_request_error"

ERROR_TYPES: tuple[ErrorDoc, ...] = (
    ErrorDoc(
        "invalid_request_error",
        (
            (400, _INVALID),
            (403, _INVALID),
            (404, _INVALID),
            (405, _INVALID),
            (413, _INVALID),
            (415, _INVALID),
        ),
        "The request cannot be served as sent: a missing, unknown or mistyped parameter, an "
        "object that does not exist for this key, a change the object's state does not allow, "
        "a key that may not do this, or a body of the wrong size or kind.",
        "Read `code` and `param`: they name the rule and the field. Correct the request; "
        "sending it again unchanged gives the same answer.",
    ),
    ErrorDoc(
        "validation_error",
        ((422, "validation_error"),),
        "Every parameter was well-formed JSON of the right type, but a value breaks a field "
        "rule (an unknown currency, a due date in the future, an email address that cannot "
        "exist).",
        "`param` names the field and `message` the rule; send a value that meets it.",
    ),
    ErrorDoc(
        "authentication_error",
        ((401, "authentication_error"),),
        "The request carries no API key, or one that does not exist or was revoked.",
        "Send `Authorization: Bearer sk_test_...` (or HTTP Basic with the key as user name). "
        "On the embedded default the demo key works; elsewhere an operator creates keys with "
        "`collection-cases keys create --account NAME`.",
    ),
    ErrorDoc(
        "idempotency_error",
        ((400, "idempotency_error"), (409, "idempotency_error")),
        "An `Idempotency-Key` was reused with other parameters, or its first request is still "
        "being processed.",
        "Use a new key for a new request; to retry the same request, send exactly the same "
        "parameters, after the first attempt has finished.",
    ),
    ErrorDoc(
        "rate_limit_error",
        ((429, "rate_limit_error"),),
        "Too many requests with this key in this second.",
        "Wait for the seconds in the `Retry-After` header, then retry; spread requests out or "
        "ask the operator for a higher limit.",
    ),
    ErrorDoc(
        "api_error",
        ((500, "api_error"), (503, "api_error")),
        "The server could not answer: its database is unreachable (503, nothing was applied) "
        "or a bug (500).",
        "Retry a 503 after a short wait, with the same `Idempotency-Key` on POSTs. Report a 500 "
        "to the operator with the response's `Request-Id` header: the log line carries it.",
    ),
)

ERROR_CODES: tuple[ErrorDoc, ...] = (
    ErrorDoc(
        "parameter_missing",
        ((400, _INVALID),),
        "A required parameter is absent; `param` is its dotted path (`debtor.address.city`).",
        "Add the parameter. The create example in the API docs shows every required field.",
        "Missing required param: debtor.address.city.",
        "debtor.address.city",
    ),
    ErrorDoc(
        "parameter_unknown",
        ((400, _INVALID),),
        "The request names a parameter this endpoint does not take, in the body (top level or "
        "nested) or the query string. Nothing is ignored silently: a typo would otherwise lose "
        "data.",
        "Remove it, or fix its spelling against the endpoint's schema in the API docs.",
        "Received unknown parameter: debtor.nmae.",
        "debtor.nmae",
    ),
    ErrorDoc(
        "parameter_invalid",
        ((400, _INVALID), (422, "validation_error")),
        "A parameter has the wrong JSON type or shape (400: a string where an integer belongs, "
        "malformed JSON, an empty body), or a well-formed value breaks a field rule (422: an "
        "unknown currency, a due date in the future).",
        "Send the value in the type and range the schema gives; amounts are integers in the "
        "smallest currency unit, dates `YYYY-MM-DD`, countries ISO 3166-1 alpha-2.",
        "Invalid value for amount_to_recover: Input should be a valid integer.",
        "amount_to_recover",
    ),
    ErrorDoc(
        "state_invalid",
        ((400, _INVALID),),
        "The object's current status does not allow this change (for example pausing a case "
        "that is not active, or anything on a closed case: closed is final).",
        "Retrieve the object and check its `status`; only the moves of the case lifecycle are "
        "allowed.",
        "Cannot pause a collection_case whose status is 'paused'.",
        "status",
    ),
    ErrorDoc(
        "resource_not_found",
        ((404, _INVALID), (400, _INVALID)),
        "No object with this id exists for this key. Objects of another account, or of the "
        "other mode (test vs live), answer exactly like ones that do not exist. A list's "
        "`starting_after` or `ending_before` naming an unknown object answers 400.",
        "Check the id, and that the key's mode matches the object: `sk_test_` keys see only "
        "test objects (`is_test: true`), `sk_live_` keys only live ones.",
        "No such collection_case: 'dc_0196f3a2c1d87a4b9e5f0a1b2c3d4e5f'",
        "id",
    ),
    ErrorDoc(
        "url_invalid",
        ((404, _INVALID),),
        "No endpoint answers this path (or, for test helpers, not with a live key).",
        "Check the path against the API docs: paths have no trailing slash and start with "
        "`/v1/`. Test helpers need a test-mode key.",
        "Unrecognized request URL (GET /v1/collection_case).",
    ),
    ErrorDoc(
        "method_not_allowed",
        ((405, _INVALID),),
        "The path exists but not with this HTTP method.",
        "Use one of the methods in the `Allow` response header (updates are POSTs).",
        "Method not allowed for this URL (DELETE /v1/collection_cases).",
    ),
    ErrorDoc(
        "api_key_missing",
        ((401, "authentication_error"),),
        "The request has no `Authorization` header.",
        "Send `Authorization: Bearer sk_test_...`, or `curl -u sk_test_...:`.",
        "You did not provide an API key. Send it as 'Authorization: Bearer sk_test_...'.",
    ),
    ErrorDoc(
        "api_key_invalid",
        ((401, "authentication_error"),),
        "The key is unknown, malformed or revoked.",
        "Copy the key again (it is shown only once, at creation), or create a new one with "
        "`collection-cases keys create --account NAME`.",
        "Invalid API key provided.",
    ),
    ErrorDoc(
        "permission_denied",
        ((403, _INVALID),),
        "The key lacks the permission this operation needs (the message names it, e.g. "
        "`collection_cases:write`). Restricted keys (`rk_`) have only the permissions they were "
        "created with; publishable keys (`pk_`) read nothing that reveals a debtor; only secret "
        "keys create or revoke tokens.",
        "Use a secret key (`sk_test_` or `sk_live_`), or create a restricted key with the "
        "permission (`POST /v1/tokens`).",
        "This key lacks the permission collection_cases:write.",
    ),
    ErrorDoc(
        "api_version_invalid",
        ((400, _INVALID),),
        "The `CasaPay-Version` header names a version this server does not know; the message "
        "lists the ones it does.",
        "Send a listed version (the current one is 2025-01-15), or no header to use your "
        "account's default.",
        "Unknown API version '2019-01-01'. Known versions: 2024-11-01, 2025-01-15.",
        "CasaPay-Version",
    ),
    ErrorDoc(
        "request_timeout",
        ((408, _INVALID),),
        "The request's head or body did not arrive in time (a head within 10 s of the "
        "connection, each body chunk within 15 s of the last); the connection is closed.",
        "Send the request without pauses; on a slow link, retry (POSTs with the same "
        "`Idempotency-Key`).",
        "The request body did not arrive in time.",
    ),
    ErrorDoc(
        "payload_too_large",
        ((413, _INVALID),),
        "The JSON body is over 1 MiB, or an uploaded file is over the upload limit (25 MiB by "
        "default). Nothing was stored.",
        "Send a smaller body or file; operators set the limits with "
        "`COLLECTION_CASES_MAX_JSON_BODY_BYTES` and `COLLECTION_CASES_MAX_UPLOAD_BYTES`.",
        "The file is larger than the 26214400 bytes allowed.",
        "file",
    ),
    ErrorDoc(
        "content_type_invalid",
        ((415, _INVALID),),
        "The body is not in a type this endpoint reads: JSON endpoints take "
        "`application/json`, uploads `multipart/form-data`.",
        'Set the `Content-Type` header (curl: `-H "Content-Type: application/json"` with '
        "`-d`, or `-F` for uploads).",
        "Send the request body as JSON with 'Content-Type: application/json' (got 'text/plain').",
    ),
    ErrorDoc(
        "file_type_invalid",
        ((415, _INVALID),),
        "The uploaded file's bytes are none of the accepted types (whatever its name or "
        "declared type says).",
        "Upload PDF, JPEG, PNG, DOC(X), XLS(X), CSV, TXT, EML or ZIP.",
        "This file type is not accepted; upload a PDF, JPEG, PNG, DOC, DOCX, XLS, XLSX, CSV, "
        "TXT, EML or ZIP file.",
        "file",
    ),
    ErrorDoc(
        "idempotency_key_reused",
        ((400, "idempotency_error"),),
        "This `Idempotency-Key` was first used with different parameters (or another path).",
        "Use a new key for a new request. A retry must repeat the first request exactly.",
        "This Idempotency-Key was used with different parameters; use a new key.",
        "Idempotency-Key",
    ),
    ErrorDoc(
        "idempotency_response_unreadable",
        ((500, "api_error"),),
        "The response stored for this `Idempotency-Key` cannot be opened with the server's "
        "configured secret keys (a key was dropped before `secrets rotate`, or the row was "
        "altered). The first request did take effect.",
        "Do not retry with a new key: that would repeat the effect. Look the object up (list "
        "or retrieve it) instead; the operator should restore the old secret key.",
        "The response stored for this Idempotency-Key cannot be read; the first request did "
        "take effect: look the object up instead of retrying.",
        "Idempotency-Key",
    ),
    ErrorDoc(
        "idempotency_key_in_use",
        ((409, "idempotency_error"),),
        "The first request with this `Idempotency-Key` is still being processed.",
        "Retry in a moment with the same key and parameters: you then get its response.",
        "A request with this Idempotency-Key is still being processed; retry later.",
        "Idempotency-Key",
    ),
    ErrorDoc(
        "rate_limit",
        ((429, "rate_limit_error"),),
        "More requests with this key in this second than the server's limit (200 by default, "
        "shared by every server process).",
        "Wait the `Retry-After` seconds, then retry; back off exponentially under load.",
        "Too many requests with this key (more than 200 per second); retry after 1 s.",
    ),
    ErrorDoc(
        "service_unavailable",
        ((503, "api_error"),),
        "The database could not be reached. Nothing was applied.",
        "Retry after the `Retry-After` seconds (POSTs with the same `Idempotency-Key`). "
        "Operators: check `GET /readyz` and the database.",
        "The database is unreachable right now; the request was not applied. Safe to retry.",
    ),
    ErrorDoc(
        "internal_error",
        ((500, "api_error"),),
        "A bug in the server. The body never contains internals; the log has the details.",
        "Report it to the operator with the `Request-Id` response header; a retry may work.",
        "An unexpected error occurred; it has been logged.",
    ),
)


def error_doc(name: str) -> ErrorDoc | None:
    """The catalogue entry for a code or type."""
    for entry in (*ERROR_CODES, *ERROR_TYPES):
        if entry.name == name:
            return entry
    return None
