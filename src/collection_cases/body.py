"""Request bodies and responses: strict JSON in, orjson out."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from collection_cases.errors import (
    InvalidRequestError,
    UnsupportedMediaType,
    from_validation_errors,
)

M = TypeVar("M", bound=BaseModel)

# Models whose schemas /openapi.json must carry as request bodies (see app.custom_openapi).
REQUEST_MODELS: dict[str, type[BaseModel]] = {}


def json_request(
    model: type[BaseModel], *, required: bool = True, example: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`openapi_extra` for a route whose body we parse ourselves (`example` pre-fills the docs'
    Try it out)."""
    REQUEST_MODELS[model.__name__] = model
    media: dict[str, Any] = {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
    if example is not None:
        media["example"] = example
    return {"requestBody": {"required": required, "content": {"application/json": media}}}


async def parse_json(request: Request, model: type[M]) -> M:
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType(
            "Send the request body as JSON with 'Content-Type: application/json'"
            f" (got '{media_type or 'none'}')."
        )
    raw = await request.body()
    if not raw.strip():
        raise InvalidRequestError("The request body is empty; expected a JSON object.")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise InvalidRequestError("The request body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_validation_errors(exc.errors(include_url=False)) from None


def json_response(content: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status_code, media_type="application/json")


async def parse_optional_json(request: Request, model: type[M]) -> M:
    """Like parse_json, but an empty body (curl -X POST with no -d) means all defaults."""
    if not (await request.body()).strip():
        return model()
    return await parse_json(request, model)
