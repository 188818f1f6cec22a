"""sample collection partners

The registry ships with these so a fresh install verifies cases out of the box; operators manage
it afterwards with `collection-cases partners list|add|remove`.

Revision ID: 5b1f0c2d7a10
Revises: 34506b3d6581
Create Date: 2026-11-26 04:45:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b1f0c2d7a10"
down_revision: str | None = "34506b3d6581"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
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
BOTH = ["company", "private"]
PARTNERS = [
    # amounts in minor units
    (
        "cp_partner_de_01",
        "CollectMax GmbH",
        "cases@collectmax.de",
        "+49 30 1234567",
        "https://collectmax.de",
        ["DE", "AT", "CH"],
        BOTH,
        ["rent", "b2c", "b2b"],
        "0.870",
        45,
        "12.00",
        5000,
        50000000,
    ),
    (
        "cp_partner_de_02",
        "Inkasso Nord AG",
        "auftrag@inkasso-nord.de",
        "+49 40 7654321",
        "https://inkasso-nord.de",
        ["DE"],
        ["company"],
        ["b2b", "invoices"],
        "0.820",
        60,
        "10.00",
        50000,
        100000000,
    ),
    (
        "cp_partner_fr_01",
        "Recouvra SAS",
        "dossiers@recouvra.fr",
        "+33 1 23 45 67 89",
        "https://recouvra.fr",
        ["FR", "BE", "LU"],
        BOTH,
        ["rent", "b2c"],
        "0.790",
        55,
        "13.50",
        5000,
        30000000,
    ),
    (
        "cp_partner_nl_01",
        "Incasso Lage Landen B.V.",
        "zaken@incassoll.nl",
        "+31 20 123 4567",
        "https://incassoll.nl",
        ["NL", "BE"],
        BOTH,
        ["rent", "utilities"],
        "0.840",
        40,
        "11.00",
        2500,
        25000000,
    ),
    (
        "cp_partner_es_01",
        "Cobros Ibéricos S.L.",
        "casos@cobrosibericos.es",
        "+34 91 123 45 67",
        "https://cobrosibericos.es",
        ["ES", "PT"],
        BOTH,
        ["b2c", "rent"],
        "0.760",
        70,
        "14.00",
        5000,
        20000000,
    ),
    (
        "cp_partner_it_01",
        "Recupero Crediti Italia S.r.l.",
        "pratiche@rcitalia.it",
        "+39 02 1234 5678",
        "https://rcitalia.it",
        ["IT"],
        BOTH,
        ["b2b", "b2c"],
        "0.740",
        80,
        "15.00",
        5000,
        20000000,
    ),
    (
        "cp_partner_pl_01",
        "Windykacja Polska Sp. z o.o.",
        "sprawy@windykacja.pl",
        "+48 22 123 45 67",
        "https://windykacja.pl",
        ["PL", "CZ", "SK"],
        BOTH,
        ["b2c", "rent"],
        "0.780",
        50,
        "12.50",
        2000,
        15000000,
    ),
    (
        "cp_partner_se_01",
        "Nordic Inkasso AB",
        "arenden@nordicinkasso.se",
        "+46 8 123 456 78",
        "https://nordicinkasso.se",
        ["SE", "DK", "NO", "FI"],
        BOTH,
        ["b2c", "b2b", "rent"],
        "0.880",
        35,
        "11.50",
        5000,
        40000000,
    ),
    (
        "cp_partner_gb_01",
        "Albion Recoveries Ltd",
        "cases@albionrecoveries.co.uk",
        "+44 20 7946 0123",
        "https://albionrecoveries.co.uk",
        ["GB", "IE"],
        BOTH,
        ["rent", "b2c", "b2b"],
        "0.810",
        50,
        "12.00",
        5000,
        50000000,
    ),
]


def upgrade() -> None:
    table = sa.table(
        "collection_partners",
        sa.column("id"),
        sa.column("name"),
        sa.column("email"),
        sa.column("phone"),
        sa.column("site"),
        sa.column("countries", sa.ARRAY(sa.String)),
        sa.column("debtor_types", sa.ARRAY(sa.String)),
        sa.column("specializations", sa.ARRAY(sa.String)),
        sa.column("success_rate"),
        sa.column("avg_resolution_days"),
        sa.column("base_success_fee_pct"),
        sa.column("min_amount"),
        sa.column("max_amount"),
    )
    op.bulk_insert(table, [dict(zip(COLUMNS, row, strict=True)) for row in PARTNERS])


def downgrade() -> None:
    ids = ", ".join(f"'{row[0]}'" for row in PARTNERS)
    op.execute(f"DELETE FROM collection_partners WHERE id IN ({ids})")
