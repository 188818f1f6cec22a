"""Typed API errors and the one renderer of the documented error body."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

DOC_URL = "https://github.com/collection-cases/collection-cases#errors"


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
                "doc_url": f"{DOC_URL}-{self.code}" if self.code else DOC_URL,
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
