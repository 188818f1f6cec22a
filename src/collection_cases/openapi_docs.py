"""Shared OpenAPI fragments: the error body every route can answer with, and examples of it.

Every error response in /openapi.json carries examples of its body, built from the error
catalogue (errors.ERROR_CODES) so that the `type` always matches the status: a route names the
errors particular to it (`error_responses(400, 422, examples={...})`), and `complete()` adds
the ones every operation of a kind can answer (keys, rate limits, Idempotency-Key, unknown
query parameters, ids that do not exist).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from collection_cases.errors import ERRORS_PATH, error_doc

# Where the examples' doc_url points: the address `make run` serves on. A real answer links
# to the host the request reached.
EXAMPLE_BASE_URL = "http://127.0.0.1:8000"

# Example ids, one per kind of object, used across the schema's examples.
CASE_ID = "dc_019abf2e6a3b7c1d8e9f00112233aabb"
FILE_ID = "file_5f0c2d7a10b1e3c4d5e6f708"
PAYMENT_ID = "dp_7c1d8e9f00112233aabbccdd"
EVENT_ID = "evt_019abf2e6b0c7d2e8f9a00112233ccdd"
ENDPOINT_ID = "we_9f00112233aabbccddeeff00"
TOKEN_ID = "tok_5f0c2d7a10b1e3c4d5e6f708"
PARTNER_ID = "cp_partner_de_01"


class ErrorDetail(BaseModel):
    type: Literal[
        "api_error",
        "authentication_error",
        "invalid_request_error",
        "rate_limit_error",
        "validation_error",
        "idempotency_error",
    ] = Field(
        description="The broad kind of error; it follows from the status (400, 403, 404, 405, "
        "413, 415: invalid_request_error; 401: authentication_error; 422: validation_error; "
        "429: rate_limit_error; 5xx: api_error; a reused Idempotency-Key: idempotency_error).",
        examples=["invalid_request_error"],
    )
    code: str | None = Field(
        description="The precise reason, one of the codes of the error reference "
        "(`/docs/errors`); branch on this, not on `message`.",
        examples=["parameter_missing"],
    )
    message: str = Field(
        description="What went wrong, written for a person; may change between releases.",
        examples=["Missing required param: debtor.address.city."],
    )
    param: str | None = Field(
        description="The parameter the error is about, as a dotted path into the body "
        "(`debtor.address.city`), a query parameter or a header; null when none is to blame.",
        examples=["debtor.address.city"],
    )
    doc_url: str = Field(
        description="This error's entry in the error reference, on the server that answered.",
        examples=[f"{EXAMPLE_BASE_URL}{ERRORS_PATH}#parameter_missing"],
    )


class ErrorResponse(BaseModel):
    """The body of every answer that is not a 2xx."""

    error: ErrorDetail = Field(description="What went wrong and how to find out more.")


class Health(BaseModel):
    """The answer of the health probes."""

    status: Literal["ok"] = Field(description='Always "ok" (anything else is an error).')


_DESCRIPTIONS = {
    400: "Malformed, missing or unknown parameters, or an invalid state change",
    401: "No API key, or an invalid one",
    403: "The key lacks the permission this operation needs (permission_denied names it)",
    404: "No such object (or it belongs to another account or mode)",
    409: "A request with this Idempotency-Key is still in flight",
    413: "Request body too large",
    415: "Unsupported content type",
    422: "A well-formed value that breaks a field rule",
    429: "Too many requests with this key (Retry-After says when to come back)",
    503: "Database unreachable: safe to retry",
}

_KEEP = object()


@dataclass(frozen=True)
class ErrorExample:
    """One example error body: a catalogue code, with the message and param the server writes
    in this situation (the catalogue's example ones when not given)."""

    code: str
    message: str | None = None
    param: str | None | object = _KEEP
    name: str | None = None  # distinguishes two examples of one code on one response

    @property
    def key(self) -> str:
        return self.name or self.code

    def body(self, status: int) -> dict[str, Any]:
        entry = error_doc(self.code)
        if entry is None:
            raise ValueError(f"{self.code} is not in the error catalogue")
        types = [kind for answered, kind in entry.answers if answered == status]
        if not types:
            raise ValueError(f"{self.code} is never answered with {status}")
        param = entry.param if self.param is _KEEP else self.param
        return {
            "error": {
                "type": types[0],
                "code": self.code,
                "message": self.message or entry.example,
                "param": param,
                "doc_url": f"{EXAMPLE_BASE_URL}{ERRORS_PATH}#{self.code}",
            }
        }


def example(
    code: str, message: str | None = None, param: str | None | object = _KEEP, name: str = ""
) -> ErrorExample:
    return ErrorExample(code, message, param, name or None)


def missing(param: str) -> ErrorExample:
    return example("parameter_missing", f"Missing required param: {param}.", param)


def unknown(param: str) -> ErrorExample:
    return example("parameter_unknown", f"Received unknown parameter: {param}.", param)


def wrong_type(param: str, rule: str) -> ErrorExample:
    return example("parameter_invalid", f"Invalid value for {param}: {rule}.", param)


def breaks_rule(param: str, rule: str, name: str = "") -> ErrorExample:
    """A 422: a well-formed value that breaks a field rule."""
    return example("parameter_invalid", f"Invalid {param}: {rule}.", param, name)


def state_invalid(message: str, param: str | None = "status") -> ErrorExample:
    return example("state_invalid", message, param)


def not_found(kind: str, ident: str, param: str | None = "id") -> ErrorExample:
    return example("resource_not_found", f"No such {kind}: '{ident}'", param)


def _named(item: ErrorExample, status: int) -> dict[str, Any]:
    summary = item.code if item.name is None else f"{item.code} ({item.name})"
    return {"summary": summary, "value": item.body(status)}


def media(examples: Sequence[ErrorExample], status: int) -> dict[str, Any]:
    """The `examples` of an error response's JSON content."""
    return {item.key: _named(item, status) for item in examples}


def error_responses(
    *codes: int, examples: Mapping[int, Sequence[ErrorExample]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a route: its error statuses (401 and 503 always), with the examples
    particular to it; `complete()` adds the ones every operation shares."""
    responses: dict[int | str, dict[str, Any]] = {}
    for code in (401, *codes, 503):
        response: dict[str, Any] = {"model": ErrorResponse, "description": _DESCRIPTIONS[code]}
        own = (examples or {}).get(code)
        if own:
            response["content"] = {"application/json": {"examples": media(own, code)}}
        responses[code] = response
    return responses


# Shared examples ---------------------------------------------------------------------------

_PATH_OBJECTS: dict[str, tuple[str, str, str]] = {
    # path parameter -> (object kind, example id, the param the error names)
    "case_id": ("collection_case", CASE_ID, "id"),
    "reference": ("collection_case", "Q8OAXF3X", "reference"),
    "file_id": ("case_file", FILE_ID, "id"),
    "payment_id": ("debt_payment", PAYMENT_ID, "id"),
    "partner_id": ("collection_partner", "cp_partner_xx_01", "id"),
    "country": ("country", "XX", "country"),
    "event_id": ("event", EVENT_ID, "id"),
    "endpoint_id": ("webhook_endpoint", ENDPOINT_ID, "id"),
    "token_id": ("token", TOKEN_ID, "id"),
}
_PATH_PARAM = re.compile(r"\{(\w+)\}")


def _shared(path: str, method: str, operation: dict[str, Any]) -> dict[int, list[ErrorExample]]:
    """Examples every operation of this kind can answer."""
    body_too_large = example(
        "payload_too_large", "The request body is larger than the 1048576 bytes allowed.", None
    )
    shared: dict[int, list[ErrorExample]] = {
        401: [example("api_key_missing"), example("api_key_invalid")],
        429: [example("rate_limit")],
        503: [example("service_unavailable")],
        400: [example("api_version_invalid")],
        409: [example("idempotency_key_in_use")],
        413: [body_too_large],
        415: [example("content_type_invalid")],
    }
    query = {p["name"] for p in operation.get("parameters", ()) if p.get("in") == "query"}
    body = operation.get("requestBody", {}).get("content", {})
    if method == "post":
        shared[400].append(example("idempotency_key_reused"))
    if "application/json" in body:
        shared[400].append(
            example(
                "parameter_invalid",
                "The request body must be a JSON object.",
                None,
                name="not_an_object",
            )
        )
    if "multipart/form-data" in body:
        shared[413] = [example("payload_too_large", name="file_too_large"), body_too_large]
        shared[415] = [
            example(
                "content_type_invalid",
                'Upload files as multipart/form-data (curl -F "file=@invoice.pdf" ...).',
                None,
            ),
            example("file_type_invalid"),
        ]
    if "limit" in query:
        shared[400].append(
            example(
                "parameter_invalid",
                "starting_after and ending_before cannot both be given.",
                "ending_before",
                name="both_cursors",
            )
        )
        shared[422] = [
            breaks_rule("limit", "Input should be less than or equal to 100", name="limit")
        ]
    else:
        shared[400].append(unknown("expand[]"))
    found = [name for name in _PATH_PARAM.findall(path) if name in _PATH_OBJECTS]
    if found:
        kind, ident, param = _PATH_OBJECTS[found[0]]
        shared[404] = [not_found(kind, ident, param)]
    return shared


def complete(schema: dict[str, Any], declared_422: set[tuple[str, str]]) -> None:
    """Finish the error responses of /openapi.json.

    Every /v1 operation can answer 400 (an unknown query parameter, an unknown
    CasaPay-Version); FastAPI's own 422, added to every route with a parameter, is kept only
    where the route can really answer it (`declared_422`: (path, method) pairs). Then every
    error response gets the shared examples for its status after its own.
    """
    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            if "422" in responses and (path, method) not in declared_422:
                del responses["422"]
            if path.startswith("/v1/"):
                responses.setdefault("400", {"description": _DESCRIPTIONS[400]})
                shared = _shared(path, method, operation)
            else:
                shared = {503: [example("service_unavailable")]}
            for status, response in responses.items():
                if not status.isdigit() or int(status) < 400:
                    continue
                # Fragments may be shared between responses (app.py's): this one's own copy.
                response["content"] = copy.deepcopy(response.get("content", {}))
                content = response["content"].setdefault("application/json", {})
                content.setdefault("schema", error_ref)
                examples = content.setdefault("examples", {})
                for item in examples.values():
                    # FastAPI drops None values from what routes declare: put the nulls back.
                    error = item["value"]["error"]
                    for field in ErrorDetail.model_fields:
                        error.setdefault(field, None)
                for entry in shared.get(int(status), ()):
                    if entry.key not in examples:
                        examples[entry.key] = _named(entry, int(status))
