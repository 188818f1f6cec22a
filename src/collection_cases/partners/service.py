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
