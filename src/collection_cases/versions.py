"""API versions: which exist, which one a request uses, and what changed between them.

A request uses the version in its `CasaPay-Version` header, else its account's default
(`collection-cases accounts set-version`). A webhook delivery is rendered with its endpoint's
`api_version`, else the account's. Versions differ only where a change is listed here; each
change is applied at the edge, when an object is rendered, never in storage.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from starlette.requests import Request

from collection_cases.errors import InvalidRequestError, printable

HEADER = "CasaPay-Version"
# Oldest first. 2024-11-01 is what this server spoke before it followed the vendor's
# platform pages; accounts that existed then stay on it until they are moved.
KNOWN = ("2024-11-01", "2025-01-15")
CURRENT = KNOWN[-1]
ApiVersion = Literal["2024-11-01", "2025-01-15"]
assert get_args(ApiVersion) == KNOWN
# What each version changed, for the README and the error reference.
CHANGES: dict[str, tuple[str, ...]] = {
    "2025-01-15": (
        "Event objects carry `api_version`, `livemode` and `pending_webhooks` (`is_test` "
        "stays, beside `livemode`, as on every other object).",
    ),
}


class VersionInvalid(InvalidRequestError):
    code = "api_version_invalid"


def check(value: str, *, param: str = HEADER) -> str:
    """`value` if it names a known version, else 400 listing the known ones."""
    if value not in KNOWN:
        raise VersionInvalid(
            f"Unknown API version '{printable(value, 40)}'. Known versions: {', '.join(KNOWN)}.",
            param=param,
        )
    return value


def of(request: Request) -> str:
    """The version this (authenticated) request uses."""
    version: str = request.state.api_version
    return version


def render_event(event: dict[str, Any], version: str, *, pending_webhooks: int) -> dict[str, Any]:
    """An event (as stored, in the current shape) as `version` shows it."""
    livemode = not event["is_test"]
    if version < "2025-01-15":
        return {
            "id": event["id"],
            "object": "event",
            "type": event["type"],
            "created": event["created"],
            "is_test": event["is_test"],
            "data": event["data"],
            "request": event["request"],
        }
    return {
        "id": event["id"],
        "object": "event",
        "type": event["type"],
        "api_version": version,
        "created": event["created"],
        "data": event["data"],
        "is_test": event["is_test"],
        "livemode": livemode,
        "pending_webhooks": pending_webhooks,
        "request": event["request"],
    }
