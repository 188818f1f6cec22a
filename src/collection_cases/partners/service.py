"""The partner registry: listing, adding and removing partners, and the coverage it yields."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pycountry

from collection_cases import db, ids
from collection_cases.pagination import Listing, ListParams, Page, paginate

FIELDS = (
    "id",
    "name",
    "email",
    "phone",
    "site",
    "countries",
    "debtor_types",
    "success_rate",
    "avg_resolution_days",
    "base_success_fee_pct",
    "min_amount",
    "max_amount",
)
PARTNER_COLUMNS = ", ".join((*FIELDS, "created_at"))
API_FIELDS = ("name", "email", "phone", "site", "countries")
# The partners page lists a partner's specializations as the debtor types it takes.
DEBTOR_TYPES = ("private", "company")
# Best partners first (the order verification picks them in).
LISTING = Listing(
    source="collection_partners",
    columns=PARTNER_COLUMNS,
    kind="collection_partner",
    parse=lambda value: value if ids.looks_like("cp", value) else None,
    order=("success_rate", "id"),
)
# One row per country some partner covers, in country order.
COVERAGE_LISTING = Listing(
    source="(SELECT DISTINCT unnest(countries) AS country FROM collection_partners) AS coverage",
    columns="country",
    kind="collection_coverage",
    parse=lambda value: value.upper() if len(value) == 2 and value.isalpha() else None,
    order=("country",),
    descending=False,
)
_COVERING = "%(country)s = ANY(countries)"


async def list_partners(conn: db.Connection, country: str | None = None) -> list[db.Row]:
    """Every partner (optionally those covering `country`), by id: the operator's view."""
    where = f"WHERE {_COVERING}" if country else ""
    return await db.fetch_all(
        conn,
        f"SELECT {PARTNER_COLUMNS} FROM collection_partners {where} ORDER BY id",
        {"country": country.upper() if country else None},
    )


async def add_partner(conn: db.Connection, partner: dict[str, Any]) -> None:
    """Insert or replace a partner (keyed by id)."""
    values = {f: partner[f] for f in FIELDS}
    values["countries"] = [c.upper() for c in values["countries"]]
    values["success_rate"] = Decimal(str(values["success_rate"]))
    values["base_success_fee_pct"] = Decimal(str(values["base_success_fee_pct"]))
    columns = ", ".join(FIELDS)
    marks = ", ".join(f"%({f})s" for f in FIELDS)
    updates = ", ".join(f"{f} = EXCLUDED.{f}" for f in FIELDS if f != "id")
    await db.execute(
        conn,
        f"INSERT INTO collection_partners ({columns}) VALUES ({marks}) "
        f"ON CONFLICT (id) DO UPDATE SET {updates}",
        values,
    )


async def remove_partner(conn: db.Connection, partner_id: str) -> bool:
    removed = await db.execute(conn, "DELETE FROM collection_partners WHERE id = %s", (partner_id,))
    return removed == 1


def render(row: db.Row) -> dict[str, Any]:
    obj: dict[str, Any] = {"id": row["id"], "object": "collection_partner"}
    for field in API_FIELDS:
        obj[field] = row[field]
    obj["specializations"] = [t for t in DEBTOR_TYPES if t in row["debtor_types"]]
    obj["success_rate"] = float(row["success_rate"])
    obj["avg_resolution_days"] = row["avg_resolution_days"]
    return obj


async def get_partner(conn: db.Connection, partner_id: str) -> db.Row | None:
    if not ids.looks_like("cp", partner_id):
        return None
    return await db.fetch_one(
        conn, f"SELECT {PARTNER_COLUMNS} FROM collection_partners WHERE id = %s", (partner_id,)
    )


async def page_partners(
    conn: db.Connection, params: ListParams, country: str | None = None
) -> Page:
    """A page of the registry (optionally the partners covering `country`)."""
    return await paginate(
        conn,
        LISTING,
        params,
        scope=None,
        where=[_COVERING] if country else [],
        args={"country": country},
    )


async def registry(conn: db.Connection, country: str) -> list[db.Row]:
    """The partners covering `country`, best first."""
    return await db.fetch_all(
        conn,
        f"SELECT {PARTNER_COLUMNS} FROM collection_partners WHERE {_COVERING} "
        "ORDER BY success_rate DESC, id DESC",
        {"country": country},
    )


def coverage_for(country: str, partners: list[db.Row]) -> dict[str, Any]:
    """Coverage of one country, derived from the partners that cover it."""
    record = pycountry.countries.get(alpha_2=country)
    covered = {t for p in partners for t in p["debtor_types"]}
    types = [t for t in DEBTOR_TYPES if t in covered]
    # available: both debtor types can be placed; limited: only one of them.
    if not partners:
        status = "unavailable"
    elif len(types) == len(DEBTOR_TYPES):
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


async def page_coverage(conn: db.Connection, params: ListParams) -> tuple[list[Any], bool]:
    """A page of coverage objects, one per country the registry serves."""
    page = await paginate(conn, COVERAGE_LISTING, params, scope=None)
    countries = [r["country"] for r in page.rows]
    partners = await db.fetch_all(
        conn,
        f"SELECT {PARTNER_COLUMNS} FROM collection_partners "
        "WHERE countries && %(countries)s::varchar[]",
        {"countries": countries},
    )
    data = [coverage_for(c, [p for p in partners if c in p["countries"]]) for c in countries]
    return data, page.has_more
