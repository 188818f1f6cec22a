"""Webhook endpoints: where an account's events are delivered."""

from __future__ import annotations

import secrets
from typing import Any, Literal

from psycopg.types.json import Jsonb
from pydantic import Field, StrictStr, field_validator

from collection_cases import db, egress, ids, secret_key
from collection_cases.accounts.service import Principal
from collection_cases.errors import ValidationFailed, not_found, printable
from collection_cases.events import attempts
from collection_cases.events.types import expand
from collection_cases.pagination import Listing, ListParams, Page, id_parser, paginate
from collection_cases.validation import Metadata, StrictModel, Text500, check_metadata
from collection_cases.versions import ApiVersion

COLUMNS = "id, url, enabled_events, status, api_version, description, metadata, created_at"
LISTING = Listing(
    source="webhook_endpoints", columns=COLUMNS, kind="webhook_endpoint", parse=id_parser("we")
)


def _events(value: list[str]) -> list[str]:
    if not value:
        raise ValueError('must name at least one event type, or be ["*"]')
    if "*" in value and len(value) > 1:
        raise ValueError('"*" cannot be combined with other types')
    unknown = [t for t in value if t != "*" and expand(t) is None]
    if unknown:
        raise ValueError(f"unknown event type '{printable(unknown[0])}'")
    return list(dict.fromkeys(value))


URL_DESCRIPTION = (
    "Where to POST events: HTTPS to a public address (test mode also takes http://localhost "
    "and 127.0.0.1), up to 2048 characters."
)
EVENTS_DESCRIPTION = (
    "The event types to send: types (`collection_case.closed`), families "
    '(`collection_case.*`), or `["*"]` for every type; up to 50. Types of the platform\'s other '
    "products are accepted and never fire here."
)
VERSION_DESCRIPTION = (
    "Render this endpoint's events in this API version (default: the account's, following it "
    "when it changes)."
)


class WebhookEndpointCreate(StrictModel):
    """Body of POST /v1/webhook_endpoints."""

    url: StrictStr = Field(
        max_length=2048,
        description=URL_DESCRIPTION,
        examples=["https://your-app.com/webhooks/casapay"],
    )
    enabled_events: list[StrictStr] = Field(
        max_length=50,
        description=EVENTS_DESCRIPTION,
        examples=[["collection_case.*", "debt_payment.created"]],
    )
    description: Text500 | None = Field(
        default=None,
        description="Your note about the endpoint (up to 500 characters).",
        examples=["Production payment events"],
    )
    api_version: ApiVersion | None = Field(
        default=None, description=VERSION_DESCRIPTION, examples=["2025-01-15"]
    )
    metadata: Metadata | None = Field(
        default=None,
        description="Your key-value pairs (up to 50 keys of up to 40 characters, values up to "
        "500).",
        examples=[{"team": "billing"}],
    )

    @field_validator("enabled_events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        return _events(value)


class WebhookEndpointUpdate(StrictModel):
    """Body of POST /v1/webhook_endpoints/:id: only the fields sent change."""

    url: StrictStr | None = Field(
        default=None,
        max_length=2048,
        description=URL_DESCRIPTION,
        examples=["https://your-app.com/webhooks/casapay"],
    )
    enabled_events: list[StrictStr] | None = Field(
        default=None,
        max_length=50,
        description=EVENTS_DESCRIPTION + " Replaces the list.",
        examples=[["*"]],
    )
    status: Literal["enabled", "disabled"] | None = Field(
        default=None,
        description="`disabled` stops deliveries to the endpoint; `enabled` resumes them.",
        examples=["disabled"],
    )
    description: Text500 | None = Field(
        default=None,
        description="Your note about the endpoint (up to 500 characters).",
        examples=["Production webhook endpoint"],
    )
    api_version: ApiVersion | None = Field(
        default=None, description=VERSION_DESCRIPTION, examples=["2025-01-15"]
    )
    metadata: dict[str, Text500] | None = Field(
        default=None,
        description='Merged into the endpoint\'s metadata; a key set to "" is removed.',
        examples=[{"team": ""}],
    )

    @field_validator("enabled_events")
    @classmethod
    def _known_events(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _events(value)


def check_url(url: str, *, is_test: bool) -> str:
    """Live endpoints must be HTTPS to a public address; test mode also accepts loopback
    (http://localhost for development). Judged without DNS: delivery checks the rest."""
    try:
        egress.default_policy().check_url(url, is_test=is_test)
    except egress.Refused as exc:
        raise ValidationFailed(f"url {exc}.", param="url") from None
    return url


def render(m: dict[str, Any], *, default_version: str, secret: str | None = None) -> dict[str, Any]:
    """The endpoint; its api_version is its own, else the account's default (followed as
    the account's default changes)."""
    obj = {
        "id": m["id"],
        "object": "webhook_endpoint",
        "url": m["url"],
        "enabled_events": m["enabled_events"],
        "status": m["status"],
        "api_version": m["api_version"] or default_version,
        "description": m["description"],
        "metadata": m["metadata"],
        "created": int(m["created_at"].timestamp()),
    }
    if secret is not None:
        obj["secret"] = secret
    return obj


async def create_endpoint(
    conn: db.Connection, *, principal: Principal, params: WebhookEndpointCreate
) -> dict[str, Any]:
    secret = "whsec_" + secrets.token_urlsafe(32)
    endpoint_id = ids.random_id("we")
    # Stored sealed (server secret key, bound to this row); the clear secret is answered once.
    sealed = secret_key.keyring().seal(
        secret, context=secret_key.webhook_secret_context(endpoint_id)
    )
    row = await db.fetch_one(
        conn,
        f"INSERT INTO webhook_endpoints (id, account_id, is_test, url, enabled_events, "
        f"secret_encrypted, api_version, description, metadata) VALUES (%(id)s, "
        f"%(account_id)s, %(is_test)s, %(url)s, %(events)s, %(secret)s, %(api_version)s, "
        f"%(description)s, %(metadata)s) RETURNING {COLUMNS}",
        {
            "id": endpoint_id,
            "url": check_url(params.url, is_test=principal.is_test),
            "events": Jsonb(params.enabled_events),
            "secret": sealed,
            "api_version": params.api_version,
            "description": params.description,
            "metadata": Jsonb(params.metadata or {}),
        },
        scope=principal.scope,
    )
    assert row is not None
    return render(row, secret=secret, default_version=principal.api_version)


async def _row(
    conn: db.Connection, principal: Principal, endpoint_id: str, *, lock: bool = False
) -> dict[str, Any]:
    row = None
    if ids.looks_like("we", endpoint_id):
        row = await db.fetch_one(
            conn,
            f"SELECT {COLUMNS} FROM webhook_endpoints WHERE id = %(id)s AND {{scope}}"
            + (" FOR UPDATE" if lock else ""),
            {"id": endpoint_id},
            scope=principal.scope,
        )
    if row is None:
        raise not_found("webhook_endpoint", endpoint_id)
    return row


async def get_endpoint(
    conn: db.Connection, *, principal: Principal, endpoint_id: str
) -> dict[str, Any]:
    return render(await _row(conn, principal, endpoint_id), default_version=principal.api_version)


async def update_endpoint(
    conn: db.Connection, *, principal: Principal, endpoint_id: str, params: WebhookEndpointUpdate
) -> dict[str, Any]:
    row = await _row(conn, principal, endpoint_id, lock=True)
    changes: dict[str, Any] = {}
    if params.url is not None:
        changes["url"] = check_url(params.url, is_test=principal.is_test)
    if params.enabled_events is not None:
        changes["enabled_events"] = Jsonb(params.enabled_events)
    if params.status is not None:
        changes["status"] = params.status
    if params.api_version is not None:
        changes["api_version"] = params.api_version
    if "description" in params.model_fields_set:
        changes["description"] = params.description or None
    if params.metadata is not None:
        merged = {**row["metadata"], **params.metadata}
        changes["metadata"] = Jsonb(check_metadata({k: v for k, v in merged.items() if v != ""}))
    if not changes:
        return render(row, default_version=principal.api_version)
    sets = ", ".join(f"{k} = %({k})s" for k in changes)
    updated = await db.fetch_one(
        conn,
        f"UPDATE webhook_endpoints SET {sets} WHERE id = %(id)s AND {{scope}} RETURNING {COLUMNS}",
        {**changes, "id": endpoint_id},
        scope=principal.scope,
    )
    assert updated is not None
    return render(updated, default_version=principal.api_version)


async def delete_endpoint(
    conn: db.Connection, *, principal: Principal, endpoint_id: str
) -> dict[str, Any]:
    await _row(conn, principal, endpoint_id, lock=True)
    await db.execute(
        conn,
        "DELETE FROM webhook_endpoints WHERE id = %(id)s AND {scope}",
        {"id": endpoint_id},
        scope=principal.scope,
    )
    return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}


async def list_endpoints(conn: db.Connection, *, principal: Principal, params: ListParams) -> Page:
    return await paginate(conn, LISTING, params, scope=principal.scope)


DELIVERY_COLUMNS = (
    "id, event_id, endpoint_id, status, attempts, next_attempt_at, attempt_log, delivered_at, "
    "created_at"
)
DELIVERY_LISTING = Listing(
    source="webhook_deliveries",
    columns=DELIVERY_COLUMNS,
    kind="webhook_delivery",
    parse=id_parser("whd"),
)


def render_delivery(m: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": m["id"],
        "object": "webhook_delivery",
        "event": m["event_id"],
        "webhook_endpoint": m["endpoint_id"],
        "status": m["status"],
        "attempts": m["attempts"],
        "attempt_log": [attempts.public(a) for a in m["attempt_log"]],
        "next_attempt": int(m["next_attempt_at"].timestamp()) if m["status"] == "pending" else None,
        "delivered": int(m["delivered_at"].timestamp()) if m["delivered_at"] else None,
        "created": int(m["created_at"].timestamp()),
    }


async def list_deliveries(
    conn: db.Connection, *, principal: Principal, endpoint_id: str, params: ListParams
) -> Page:
    await _row(conn, principal, endpoint_id)
    return await paginate(
        conn,
        DELIVERY_LISTING,
        params,
        scope=principal.scope,
        parent=["endpoint_id = %(endpoint_id)s"],
        args={"endpoint_id": endpoint_id},
    )
