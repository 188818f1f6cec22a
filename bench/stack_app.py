"""The stack's own ceiling: the leanest app this project's stack allows.

FastAPI (telemetry off, no dependencies, no middleware) + one `psycopg_pool` pool (min = max)
+ orjson, doing the project's SQL: a retrieve is the key's hash and the row in ONE prepared
query; a list is the key, the cursor and the page; a create is the key, the partner, the insert,
its two events and their webhook-delivery fan-out, in one transaction. Same uvicorn settings as
the project. What the project is measured against, beside the raw asyncpg app: the project can
only approach this, and should come close.

    BENCH_DATABASE_URL=postgresql://... uvicorn bench.stack_app:app --loop uvloop --http httptools
"""

from __future__ import annotations

import gc
import hashlib
import os
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import orjson
from fastapi import FastAPI, Request
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb, set_json_dumps, set_json_loads
from psycopg_pool import AsyncConnectionPool
from starlette.responses import Response

DSN = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1/cc_bench")
POOL_SIZE = int(os.environ.get("BENCH_POOL_SIZE", "16"))
COLUMNS = (
    "c.id, c.is_test, c.reference, c.status, c.close_code, c.amount_to_recover, c.remainder, "
    "c.currency, c.debtor, c.collection_partner, c.requirements, c.creditor_reference, "
    "c.due_date, c.metadata, c.created_at"
)
KEY = "k.key_hash = %(hash)s AND k.revoked_at IS NULL"
# The key and the row in one query (the key decides the account and mode).
BY_ID = (
    f"SELECT {COLUMNS} FROM api_keys k JOIN collection_cases c "
    f"ON c.account_id = k.account_id AND c.is_test = k.is_test WHERE {KEY} AND c.id = %(id)s"
)
BY_REF = (
    f"SELECT {COLUMNS} FROM api_keys k JOIN collection_cases c "
    f"ON c.account_id = k.account_id AND c.is_test = k.is_test "
    f"WHERE {KEY} AND c.reference = %(ref)s"
)
AUTH = f"SELECT k.account_id, k.is_test FROM api_keys k WHERE {KEY}"
CURSOR = (
    "SELECT created_at, id FROM collection_cases "
    "WHERE id = %(id)s AND account_id = %(account)s AND is_test = %(is_test)s"
)
PARTNER = (
    "SELECT id, name, email, phone, site, base_success_fee_pct FROM collection_partners "
    "WHERE %(country)s = ANY(countries) AND %(type)s = ANY(debtor_types) "
    "AND min_amount <= %(amount)s AND max_amount >= %(amount)s ORDER BY success_rate DESC, id "
    "LIMIT 1"
)
INSERT = (
    "INSERT INTO collection_cases (id, reference, account_id, is_test, status, amount_to_recover, "
    "remainder, currency, debtor, debtor_type, debtor_country, collection_partner_id, "
    "collection_partner, requirements, creditor_reference, due_date, metadata) VALUES "
    "(%(id)s, %(ref)s, %(account)s, %(is_test)s, %(status)s, %(amount)s, %(amount)s, "
    "%(currency)s, %(debtor)s, %(type)s, %(country)s, %(partner_id)s, %(partner)s, '[]'::jsonb, "
    "%(creditor_reference)s, %(due)s, %(metadata)s) ON CONFLICT (reference) DO NOTHING "
    f"RETURNING {COLUMNS.replace('c.', '')}"
)
EVENT = (
    "INSERT INTO events (id, account_id, is_test, type, data, request_id) "
    "VALUES (%(id)s, %(account)s, %(is_test)s, %(type)s, %(data)s, 'req_bench')"
)
DELIVERIES = (
    "INSERT INTO webhook_deliveries (id, account_id, is_test, event_id, endpoint_id, created_at) "
    "SELECT 'whd_' || replace(gen_random_uuid()::text, '-', ''), account_id, is_test, %(id)s, "
    "id, clock_timestamp() FROM webhook_endpoints WHERE account_id = %(account)s "
    "AND is_test = %(is_test)s AND status = 'enabled' AND (enabled_events ? '*' "
    "OR enabled_events ? %(type)s)"
)
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    set_json_dumps(orjson.dumps)
    set_json_loads(orjson.loads)
    app.state.pool = AsyncConnectionPool(
        DSN, min_size=POOL_SIZE, max_size=POOL_SIZE, kwargs={"autocommit": True}, open=False
    )
    await app.state.pool.open(wait=True)
    # As the project does (COLLECTION_CASES_GC_FREEZE, on by default): what startup built is
    # frozen out of the collector's passes, so the two are compared on the same footing.
    gc.collect()
    gc.freeze()
    yield
    await app.state.pool.close()


app = FastAPI(
    lifespan=lifespan,
    openapi_url=None,
    docs_url=None,
    redoc_url=None,
    telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
)


def _hash(request: Request) -> str:
    key = request.headers.get("authorization", "").removeprefix("Bearer ")
    return hashlib.sha256(key.encode()).hexdigest()


def render(r: dict[str, Any]) -> dict[str, Any]:
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


def respond(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


async def _one(sql: str, args: dict[str, Any]) -> dict[str, Any] | None:
    async with app.state.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(sql, args)
        return await cur.fetchone()


@app.get("/v1/collection_cases/ref/{reference}")
async def by_reference(reference: str, request: Request) -> Response:
    row = await _one(BY_REF, {"hash": _hash(request), "ref": reference.upper()})
    return respond(render(row)) if row else respond({}, 404)


@app.get("/v1/collection_cases/{case_id}")
async def by_id(case_id: str, request: Request) -> Response:
    row = await _one(BY_ID, {"hash": _hash(request), "id": uuid.UUID(hex=case_id[3:])})
    return respond(render(row)) if row else respond({}, 404)


@app.get("/v1/collection_cases")
async def listing(
    request: Request,
    limit: int = 10,
    status: str | None = None,
    starting_after: str | None = None,
) -> Response:
    async with app.state.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(AUTH, {"hash": _hash(request)})
        key = await cur.fetchone()
        if key is None:
            return respond({}, 401)
        args: dict[str, Any] = {"account": key["account_id"], "is_test": key["is_test"]}
        where = ["account_id = %(account)s", "is_test = %(is_test)s"]
        if status is not None:
            where.append("status = %(status)s")
            args["status"] = status
        if starting_after is not None:
            await cur.execute(CURSOR, {**args, "id": uuid.UUID(hex=starting_after[3:])})
            cursor = await cur.fetchone()
            assert cursor is not None
            where.append("(created_at, id) < (%(c_created)s, %(c_id)s)")
            args.update(c_created=cursor["created_at"], c_id=cursor["id"])
        await cur.execute(
            f"SELECT {COLUMNS.replace('c.', '')} FROM collection_cases "
            f"WHERE {' AND '.join(where)} ORDER BY created_at DESC, id DESC LIMIT {limit + 1}",
            args,
        )
        rows = await cur.fetchall()
    return respond(
        {
            "object": "list",
            "data": [render(r) for r in rows[:limit]],
            "has_more": len(rows) > limit,
            "url": "/v1/collection_cases",
        }
    )


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


@app.post("/v1/collection_cases", status_code=201)
async def create(request: Request) -> Response:
    p = orjson.loads(await request.body())
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
    async with app.state.pool.connection() as conn, conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(AUTH, {"hash": _hash(request)})
        key = await cur.fetchone()
        if key is None:
            return respond({}, 401)
        scope = {"account": key["account_id"], "is_test": key["is_test"]}
        await cur.execute(
            PARTNER,
            {
                "country": debtor["country"],
                "type": debtor["type"],
                "amount": p["amount_to_recover"],
            },
        )
        partner = await cur.fetchone()
        await cur.execute(
            INSERT,
            {
                **scope,
                "id": _uuid7(),
                "ref": "".join(secrets.choice(ALPHABET) for _ in range(8)),
                "status": "active" if partner else "pending_verification",
                "amount": p["amount_to_recover"],
                "currency": p["currency"].lower(),
                "debtor": Jsonb(debtor),
                "type": debtor["type"],
                "country": debtor["country"],
                "partner_id": partner["id"] if partner else None,
                "partner": Jsonb({k: partner[k] for k in ("id", "name", "email", "phone", "site")})
                if partner
                else None,
                "creditor_reference": p.get("creditor_reference"),
                "due": date.fromisoformat(p["due_date"]),
                "metadata": Jsonb(p.get("metadata") or {}),
            },
        )
        row = await cur.fetchone()
        assert row is not None
        case = render(row)
        for kind in ("collection_case.created", "collection_case.active"):
            event = {**scope, "id": "evt_" + _uuid7().hex, "type": kind}
            await cur.execute(
                EVENT, {**event, "data": Jsonb({"object": case, "previous_attributes": None})}
            )
            await cur.execute(DELIVERIES, event)
    return respond(case, 201)
