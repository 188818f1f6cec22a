"""Query strings: unknown parameters are refused, like unknown body fields; a set of
parameters many routes share is parsed in one validation (`QueryModel`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from collection_cases.errors import ParameterUnknown, printable

R = TypeVar("R")


class QueryModel(Generic[R]):
    """A dependency that reads the query parameters a pydantic `model` declares (by alias), in
    one validation, and hands the route `build(parsed)`.

    The same rules as parameters declared one by one with `Query()` (the same pydantic
    validators, lax as FastAPI's, errors located at `("query", alias)` and answered by the
    same handler), at a fraction of the cost: FastAPI examines every declared parameter's
    annotation on every request, which for the seven parameters every list takes was ~40 % of
    a list's CPU (bench/README.md, "What the profiles show"). The parameters are documented in
    the OpenAPI by `document_query_models` and count as declared for `reject_unknown_query`.
    """

    def __init__(self, model: type[BaseModel], build: Callable[[Any], R]) -> None:
        self.model = model
        self.build = build
        self.aliases = tuple(f.alias or name for name, f in model.model_fields.items())

    def __repr__(self) -> str:
        return f"QueryModel({self.model.__name__})"

    async def __call__(self, request: Request) -> R:
        return self.parse(request)

    def parse(self, request: Request) -> R:
        params = request.query_params
        found = {alias: params[alias] for alias in self.aliases if alias in params}
        try:
            parsed = self.model.model_validate(found)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("query", *e["loc"])} for e in exc.errors(include_url=False)]
            ) from None
        return self.build(parsed)

    def parameters(self) -> list[dict[str, Any]]:
        """The OpenAPI entries of the parameters, as FastAPI writes them for `Query()`."""
        schema = self.model.model_json_schema(by_alias=True, mode="validation")
        assert "$defs" not in schema, "a query model's fields are inline types"
        entries = []
        for alias, prop in schema["properties"].items():
            if prop.get("default", 0) is None:
                del prop["default"]
            entry = {"name": alias, "in": "query", "required": False, "schema": prop}
            if "description" in prop:
                entry["description"] = prop["description"]
            entries.append(entry)
        return entries


class QueryModels(Generic[R]):
    """Several query models read by one dependency, in order: the route gets the tuple of
    what each builds. The first that fails answers, as when each was a dependency of its
    own; FastAPI has one dependency less to solve on every request (the cases' list: its
    filters and its page)."""

    def __init__(self, *parts: QueryModel[Any]) -> None:
        self.parts = parts
        self.aliases = tuple(alias for part in parts for alias in part.aliases)

    def __repr__(self) -> str:
        return f"QueryModels({', '.join(part.model.__name__ for part in self.parts)})"

    async def __call__(self, request: Request) -> tuple[Any, ...]:
        return tuple([part.parse(request) for part in self.parts])

    def parameters(self) -> list[dict[str, Any]]:
        return [entry for part in self.parts for entry in part.parameters()]


def query_models(dependant: Any) -> Iterable[QueryModel[Any] | QueryModels[Any]]:
    """The query models a route's dependencies use."""
    for sub in dependant.dependencies:
        if isinstance(sub.call, QueryModel | QueryModels):
            yield sub.call
        yield from query_models(sub)


def document_query_models(routes: Iterable[Any], schema: dict[str, Any]) -> None:
    """Add each route's query-model parameters to its operations, after the ones FastAPI
    documents itself."""
    paths = schema.get("paths", {})
    for route in routes:
        models = list(query_models(route.dependant))
        for method in route.methods or ():
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            for model in models:
                operation.setdefault("parameters", []).extend(model.parameters())


def _query_aliases(dependant: Any) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        if isinstance(sub.call, QueryModel | QueryModels):
            names.update(sub.call.aliases)
        names |= _query_aliases(sub)
    return names


def _allowed_query(route: Any) -> frozenset[str]:
    # Computed once per route from its declared parameters (static config, not state).
    allowed = getattr(route, "_allowed_query", None)
    if allowed is None:
        allowed = frozenset(_query_aliases(route.dependant))
        route._allowed_query = allowed
    return allowed


def reject_unknown_query(request: Request) -> None:
    """Unknown query parameters are errors (called once the caller is authenticated)."""
    if not request.scope.get("query_string"):
        return
    allowed = _allowed_query(request.scope["route"])
    for key in request.query_params:
        if key not in allowed:
            name = printable(key, 100)
            raise ParameterUnknown(f"Received unknown parameter: {name}.", param=name)
