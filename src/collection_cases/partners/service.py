"""The partner registry: listing, adding and removing partners (CLI now, API later)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from collection_cases.partners.models import CollectionPartner

FIELDS = (
    "id",
    "name",
    "email",
    "phone",
    "site",
    "countries",
    "debtor_types",
    "specializations",
    "success_rate",
    "avg_resolution_days",
    "base_success_fee_pct",
    "min_amount",
    "max_amount",
)


async def list_partners(conn: AsyncConnection, country: str | None = None) -> list[dict[str, Any]]:
    p = CollectionPartner
    stmt = select(*(getattr(p, f) for f in FIELDS)).order_by(p.id)
    if country:
        stmt = stmt.where(p.countries.any_() == country.upper())
    return [dict(r._mapping) for r in await conn.execute(stmt)]


async def add_partner(conn: AsyncConnection, partner: dict[str, Any]) -> None:
    """Insert or replace a partner (keyed by id)."""
    values = {f: partner[f] for f in FIELDS}
    values["countries"] = [c.upper() for c in values["countries"]]
    values["success_rate"] = Decimal(str(values["success_rate"]))
    values["base_success_fee_pct"] = Decimal(str(values["base_success_fee_pct"]))
    stmt = pg_insert(CollectionPartner).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[CollectionPartner.id],
        set_={f: stmt.excluded[f] for f in FIELDS if f != "id"},
    )
    await conn.execute(stmt)


async def remove_partner(conn: AsyncConnection, partner_id: str) -> bool:
    result = await conn.execute(delete(CollectionPartner).where(CollectionPartner.id == partner_id))
    return result.rowcount == 1


API_FIELDS = (
    "id",
    "name",
    "email",
    "phone",
    "site",
    "countries",
    "specializations",
    "success_rate",
    "avg_resolution_days",
)


def render(row: dict[str, Any]) -> dict[str, Any]:
    obj: dict[str, Any] = {"id": row["id"], "object": "collection_partner"}
    for field in API_FIELDS[1:]:
        obj[field] = row[field]
    obj["success_rate"] = float(row["success_rate"])
    return obj


async def get_partner(conn: Any, partner_id: str) -> dict[str, Any] | None:
    from psycopg.rows import dict_row

    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {', '.join(FIELDS)} FROM collection_partners WHERE id = %s", (partner_id,)
    )
    return await cur.fetchone()  # type: ignore[no-any-return]


async def registry(conn: Any, country: str | None = None) -> list[dict[str, Any]]:
    """Partners (all fields), optionally those covering `country`, by success rate."""
    from psycopg.rows import dict_row

    cur = conn.cursor(row_factory=dict_row)
    sql = f"SELECT {', '.join(FIELDS)} FROM collection_partners"
    if country:
        sql += " WHERE %(country)s = ANY(countries)"
    await cur.execute(sql + " ORDER BY success_rate DESC, id", {"country": country})
    return await cur.fetchall()  # type: ignore[no-any-return]


def coverage_for(country: str, partners: list[dict[str, Any]]) -> dict[str, Any]:
    """Coverage of one country, derived from the partners that cover it."""
    import pycountry

    record = pycountry.countries.get(alpha_2=country)
    types = sorted({t for p in partners for t in p["debtor_types"]})
    if not partners:
        status = "unavailable"
    elif len(partners) >= 2 and types == ["company", "private"]:
        status = "available"
    else:
        status = "limited"
    fees = [Decimal(p["base_success_fee_pct"]) for p in partners]
    return {
        "object": "collection_coverage",
        "country": country,
        "country_name": record.name if record else country,
        "debtor_types": types,
        "available_partners": len(partners),
        "min_amount": min((p["min_amount"] for p in partners), default=None),
        "max_amount": max((p["max_amount"] for p in partners), default=None),
        "currency": "eur",
        "avg_success_fee_pct": round(float(sum(fees) / len(fees)), 2) if fees else None,
        "status": status,
    }


async def coverage(conn: Any) -> list[dict[str, Any]]:
    partners = await registry(conn)
    countries = sorted({c for p in partners for c in p["countries"]})
    return [coverage_for(c, [p for p in partners if c in p["countries"]]) for c in countries]
