"""Shared OpenAPI fragments: the error body every route can answer with."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class ErrorDetail(BaseModel):
    type: Literal[
        "api_error",
        "authentication_error",
        "invalid_request_error",
        "rate_limit_error",
        "validation_error",
        "idempotency_error",
    ]
    code: str | None
    message: str
    param: str | None
    doc_url: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


_DESCRIPTIONS = {
    400: "Malformed, missing or unknown parameters, or an invalid state change",
    401: "No API key, or an invalid one",
    403: "The key lacks the permission this operation needs (permission_denied names it)",
    404: "No such object (or it belongs to another account or mode)",
    413: "Request body too large",
    415: "Unsupported content type",
    422: "A well-formed value that breaks a field rule",
    503: "Database unreachable: safe to retry",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {
        code: {"model": ErrorResponse, "description": _DESCRIPTIONS[code]}
        for code in (401, *codes, 503)
    }
