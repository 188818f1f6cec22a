"""The collection partner registry."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ARRAY, BigInteger, DateTime, Integer, Numeric, String, func
from sqlalchemy.orm import Mapped, mapped_column

from collection_cases.db import Base


class CollectionPartner(Base):
    __tablename__ = "collection_partners"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str] = mapped_column(String(40))
    site: Mapped[str] = mapped_column(String(300))
    countries: Mapped[list[str]] = mapped_column(ARRAY(String(2)))
    debtor_types: Mapped[list[str]] = mapped_column(ARRAY(String(10)))
    success_rate: Mapped[Decimal] = mapped_column(Numeric(4, 3))
    avg_resolution_days: Mapped[int] = mapped_column(Integer)
    base_success_fee_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    min_amount: Mapped[int] = mapped_column(BigInteger)
    max_amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
