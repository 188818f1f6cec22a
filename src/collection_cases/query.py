"""Query strings: unknown parameters are refused, like unknown body fields."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from collection_cases.errors import ParameterUnknown, printable


def _query_aliases(dependant: Any) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
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
