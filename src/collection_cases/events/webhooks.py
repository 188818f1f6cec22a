"""Webhook endpoints: where an account's events are delivered."""

from __future__ import annotations

import secrets
from typing import Any, Literal

from psycopg import AsyncConnection as PgConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import Field, StrictStr, field_validator

from collection_cases import egress, ids, secret_key
from collection_cases.accounts.service import Principal
from collection_cases.db import SCOPE, fetch_one
from collection_cases.errors import ValidationFailed, not_found, printable
from collection_cases.events import attempts
from collection_cases.events.types import expand
from collection_cases.pagination import ListParams, cursor_bounds, fetch_page, id_parser
from collection_cases.validation import Metadata, StrictModel, Text500, check_metadata

API_VERSION = "2024-11-01"
COLUMNS = "id, url, enabled_events, status, api_version, description, metadata, created_at"


def _events(value: list[str]) -> list[str]:
    if not value:
        raise ValueError('must name at least one event type, or be ["*"]')
    if "*" in value and len(value) > 1:
        raise ValueError('"*" cannot be combined with other types')
    unknown = [t for t in value if t != "*" and expand(t) is None]
    if unknown:
        raise ValueError(f"unknown event type '{printable(unknown[0])}'")
    return list(dict.fromkeys(value))


class WebhookEndpointCreate(StrictModel):
    url: StrictStr = Field(max_length=2048)
    enabled_events: list[StrictStr] = Field(max_length=50)
    description: Text500 | None = None
    metadata: Metadata | None = None

    @field_validator("enabled_events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        return _events(value)


class WebhookEndpointUpdate(StrictModel):
    url: StrictStr | None = Field(default=None, max_length=2048)
    enabled_events: list[StrictStr] | None = Field(default=None, max_length=50)
    status: Literal["enabled", "disabled"] | None = None
    description: Text500 | None = None
    metadata: dict[str, Text500] | None = None

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


def render(m: dict[str, Any], *, secret: str | None = None) -> dict[str, Any]:
    obj = {
        "id": m["id"],
        "object": "webhook_endpoint",
        "url": m["url"],
        "enabled_events": m["enabled_events"],
        "status": m["status"],
        "api_version": m["api_version"],
        "description": m["description"],
        "metadata": m["metadata"],
        "created": int(m["created_at"].timestamp()),
    }
    if secret is not None:
        obj["secret"] = secret
    return obj


async def create_endpoint(
    conn: PgConnection, *, principal: Principal, params: WebhookEndpointCreate
) -> dict[str, Any]:
    secret = "whsec_" + secrets.token_urlsafe(32)
    endpoint_id = ids.random_id("we")
    # Stored sealed (server secret key, bound to this row); the clear secret is answered once.
    sealed = secret_key.keyring().seal(
        secret, context=secret_key.webhook_secret_context(endpoint_id)
    )
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"INSERT INTO webhook_endpoints (id, account_id, is_test, url, enabled_events, "
        f"secret_encrypted, api_version, description, metadata) VALUES (%(id)s, "
        f"%(account_id)s, %(is_test)s, %(url)s, %(events)s, %(secret)s, %(api_version)s, "
        f"%(description)s, %(metadata)s) RETURNING {COLUMNS}",
        {
            "id": endpoint_id,
            **principal.scope,
            "url": check_url(params.url, is_test=principal.is_test),
            "events": Jsonb(params.enabled_events),
            "secret": sealed,
            "api_version": API_VERSION,
            "description": params.description,
            "metadata": Jsonb(params.metadata or {}),
        },
    )
    return render(await cur.fetchone(), secret=secret)  # type: ignore[arg-type]


async def _row(
    conn: PgConnection, principal: Principal, endpoint_id: str, *, lock: bool = False
) -> dict[str, Any]:
    row = None
    if ids.looks_like("we", endpoint_id):
        row = await fetch_one(
            conn,
            f"SELECT {COLUMNS} FROM webhook_endpoints WHERE id = %(id)s AND {SCOPE}"
            + (" FOR UPDATE" if lock else ""),
            {"id": endpoint_id, **principal.scope},
        )
    if row is None:
        raise not_found("webhook_endpoint", endpoint_id)
    return row


async def get_endpoint(
    conn: PgConnection, *, principal: Principal, endpoint_id: str
) -> dict[str, Any]:
    return render(await _row(conn, principal, endpoint_id))


async def update_endpoint(
    conn: PgConnection, *, principal: Principal, endpoint_id: str, params: WebhookEndpointUpdate
) -> dict[str, Any]:
    row = await _row(conn, principal, endpoint_id, lock=True)
    changes: dict[str, Any] = {}
    if params.url is not None:
        changes["url"] = check_url(params.url, is_test=principal.is_test)
    if params.enabled_events is not None:
        changes["enabled_events"] = Jsonb(params.enabled_events)
    if params.status is not None:
        changes["status"] = params.status
    if "description" in params.model_fields_set:
        changes["description"] = params.description or None
    if params.metadata is not None:
        merged = {**row["metadata"], **params.metadata}
        changes["metadata"] = Jsonb(check_metadata({k: v for k, v in merged.items() if v != ""}))
    if not changes:
        return render(row)
    sets = ", ".join(f"{k} = %({k})s" for k in changes)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"UPDATE webhook_endpoints SET {sets} WHERE id = %(id)s AND {SCOPE} RETURNING {COLUMNS}",
        {**changes, "id": endpoint_id, **principal.scope},
    )
    return render(await cur.fetchone())  # type: ignore[arg-type]


async def delete_endpoint(
    conn: PgConnection, *, principal: Principal, endpoint_id: str
) -> dict[str, Any]:
    await _row(conn, principal, endpoint_id, lock=True)
    await conn.execute(
        f"DELETE FROM webhook_endpoints WHERE id = %(id)s AND {SCOPE}",
        {"id": endpoint_id, **principal.scope},
    )
    return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}


async def list_endpoints(
    conn: PgConnection, *, principal: Principal, params: ListParams
) -> tuple[list[dict[str, Any]], bool]:
    after, before = await cursor_bounds(
        conn,
        params,
        table="webhook_endpoints",
        kind="webhook_endpoint",
        parse=id_parser("we"),
        where=[SCOPE],
        args=dict(principal.scope),
    )
    rows, has_more = await fetch_page(
        conn,
        select=f"SELECT {COLUMNS} FROM webhook_endpoints",
        where=[SCOPE],
        args=dict(principal.scope),
        limit=params.limit,
        after=after,
        before=before,
    )
    return [render(r) for r in rows], has_more


DELIVERY_COLUMNS = (
    "id, event_id, endpoint_id, status, attempts, next_attempt_at, attempt_log, delivered_at, "
    "created_at"
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
    conn: PgConnection, *, principal: Principal, endpoint_id: str, params: ListParams
) -> tuple[list[dict[str, Any]], bool]:
    await _row(conn, principal, endpoint_id)
    where = [SCOPE, "endpoint_id = %(endpoint_id)s"]
    args = {**principal.scope, "endpoint_id": endpoint_id}
    after, before = await cursor_bounds(
        conn,
        params,
        table="webhook_deliveries",
        kind="webhook_delivery",
        parse=id_parser("whd"),
        where=where,
        args=args,
    )
    rows, has_more = await fetch_page(
        conn,
        select=f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries",
        where=where,
        args=args,
        limit=params.limit,
        after=after,
        before=before,
    )
    return [render_delivery(r) for r in rows], has_more
