"""The ceiling: a minimal raw ASGI app on asyncpg doing the same SQL as the project.

Same routes, same auth lookup (SHA-256 of the key, one indexed select per request), same
queries and the same JSON out, with none of the framework: what the project's throughput is
measured against. Not a product: no validation beyond what the benchmark sends.

    BENCH_DATABASE_URL=postgresql://... uvicorn bench.reference_app:app --loop uvloop --http httptools
"""

from __future__ import annotations

import hashlib
import os
import secrets
import uuid
from datetime import date
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
import orjson

DSN = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1/cc_bench")
POOL_SIZE = int(os.environ.get("BENCH_POOL_SIZE", "30"))
COLUMNS = (
    "id, is_test, reference, status, close_code, amount_to_recover, remainder, currency, debtor, "
    "collection_partner, requirements, creditor_reference, due_date, metadata, created_at"
)
AUTH = (
    "SELECT id, account_id, is_test, kind FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"
)
BY_ID = f"SELECT {COLUMNS} FROM collection_cases WHERE id = $1 AND account_id = $2 AND is_test = $3"
BY_REF = (
    f"SELECT {COLUMNS} FROM collection_cases "
    "WHERE reference = $1 AND account_id = $2 AND is_test = $3"
)
CURSOR = (
    "SELECT created_at, id FROM collection_cases WHERE id = $1 AND account_id = $2 AND is_test = $3"
)
PARTNER = (
    "SELECT id, name, email, phone, site, base_success_fee_pct FROM collection_partners "
    "WHERE $1 = ANY(countries) AND $2 = ANY(debtor_types) AND min_amount <= $3 "
    "AND max_amount >= $3 ORDER BY success_rate DESC, id LIMIT 1"
)
INSERT = (
    "INSERT INTO collection_cases (id, reference, account_id, is_test, status, amount_to_recover, "
    "remainder, currency, debtor, debtor_type, debtor_country, collection_partner_id, "
    "collection_partner, requirements, creditor_reference, due_date, metadata) VALUES "
    "($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10, $11, $12, '[]'::jsonb, $13, $14, $15) "
    f"ON CONFLICT (reference) DO NOTHING RETURNING {COLUMNS}"
)
EVENT = (
    "INSERT INTO events (id, account_id, is_test, type, data, request_id) "
    "VALUES ($1, $2, $3, $4, $5, $6)"
)
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

pool: asyncpg.Pool | None = None


async def _init(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: orjson.dumps(v).decode(),
        decoder=orjson.loads,
        schema="pg_catalog",
    )


def render(r: Any) -> dict[str, Any]:
    return {
        "id": "dc_" + r["id"].hex,
        "object": "collection_case",
        "reference": r["reference"],
        "status": r["status"],
        "close_code": r["close_code"],
        "amount_to_recover": r["amount_to_recover"],
        "remainder": r["remainder"],
        "currency": r["currency"],
        "debtor": r["debtor"],
        "collection_partner": r["collection_partner"],
        "requirements": r["requirements"],
        "creditor_reference": r["creditor_reference"],
        "due_date": (r["due_date"] - date(1970, 1, 1)).days * 86400,
        "is_test": r["is_test"],
        "metadata": r["metadata"],
        "created": int(r["created_at"].timestamp()),
    }


async def respond(send: Any, status: int, body: Any) -> None:
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _uuid(case_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(hex=case_id[3:]) if case_id.startswith("dc_") else None
    except ValueError:
        return None


def _uuid7() -> uuid.UUID:
    import time

    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(secrets.token_bytes(10), "big")
    value = (
        (ms << 80)
        | (0x7 << 76)
        | ((rand >> 62) & 0xFFF) << 64
        | (0b10 << 62)
        | (rand & ((1 << 62) - 1))
    )
    return uuid.UUID(int=value)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global pool
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                pool = await asyncpg.create_pool(DSN, min_size=4, max_size=POOL_SIZE, init=_init)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    assert pool is not None
    headers = dict(scope["headers"])
    key = headers.get(b"authorization", b"").removeprefix(b"Bearer ")
    method, path = scope["method"], scope["path"]
    async with pool.acquire() as conn:
        principal = await conn.fetchrow(AUTH, hashlib.sha256(key).hexdigest())
        if principal is None:
            return await respond(send, 401, {"error": {"type": "authentication_error"}})
        account, is_test = principal["account_id"], principal["is_test"]
        if method == "GET" and path.startswith("/v1/collection_cases/ref/"):
            row = await conn.fetchrow(BY_REF, path.rsplit("/", 1)[1].upper(), account, is_test)
            return await respond(send, 200 if row else 404, render(row) if row else {})
        if method == "GET" and path.startswith("/v1/collection_cases/"):
            uid = _uuid(path.rsplit("/", 1)[1])
            row = await conn.fetchrow(BY_ID, uid, account, is_test) if uid else None
            return await respond(send, 200 if row else 404, render(row) if row else {})
        if method == "GET" and path == "/v1/collection_cases":
            params = dict(parse_qsl(scope["query_string"].decode()))
            limit = int(params.get("limit", 10))
            where, args = ["account_id = $1", "is_test = $2"], [account, is_test]
            if "status" in params:
                args.append(params["status"])
                where.append(f"status = ${len(args)}")
            if "starting_after" in params:
                cursor = await conn.fetchrow(
                    CURSOR, _uuid(params["starting_after"]), account, is_test
                )
                args.extend([cursor["created_at"], cursor["id"]])
                where.append(f"(created_at, id) < (${len(args) - 1}, ${len(args)})")
            sql = (
                f"SELECT {COLUMNS} FROM collection_cases WHERE {' AND '.join(where)} "
                f"ORDER BY created_at DESC, id DESC LIMIT {limit + 1}"
            )
            rows = await conn.fetch(sql, *args)
            return await respond(
                send,
                200,
                {
                    "object": "list",
                    "data": [render(r) for r in rows[:limit]],
                    "has_more": len(rows) > limit,
                    "url": "/v1/collection_cases",
                },
            )
        if method == "POST" and path == "/v1/collection_cases":
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            p = orjson.loads(body)
            d = p["debtor"]
            debtor = {
                "type": d["type"],
                "name": d["name"],
                "contact_person": d.get("contact_person"),
                "email": d.get("email"),
                "phone": d.get("phone"),
                "address": {**{"line2": None, "state": None}, **d["address"]},
                "country": d.get("country") or d["address"]["country"],
            }
            async with conn.transaction():
                partner = await conn.fetchrow(
                    PARTNER, debtor["country"], debtor["type"], p["amount_to_recover"]
                )
                snapshot = (
                    {k: partner[k] for k in ("id", "name", "email", "phone", "site")}
                    if partner
                    else None
                )
                row = await conn.fetchrow(
                    INSERT,
                    _uuid7(),
                    "".join(secrets.choice(ALPHABET) for _ in range(8)),
                    account,
                    is_test,
                    "active" if partner else "pending_verification",
                    p["amount_to_recover"],
                    p["currency"].lower(),
                    debtor,
                    debtor["type"],
                    debtor["country"],
                    partner["id"] if partner else None,
                    snapshot,
                    p.get("creditor_reference"),
                    date.fromisoformat(p["due_date"]),
                    p.get("metadata") or {},
                )
                case = render(row)
                for kind in ("collection_case.created", "collection_case.active"):
                    await conn.execute(
                        EVENT,
                        "evt_" + _uuid7().hex,
                        account,
                        is_test,
                        kind,
                        {"object": case, "previous_attributes": None},
                        "req_bench",
                    )
            return await respond(send, 201, case)
    return await respond(send, 404, {})
