"""The overview's chart, drawn on the server: recovered per month as SVG bars (no script, no
library; the template draws what this computes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

WIDTH = 720
HEIGHT = 260
LEFT = 72  # room for the axis labels
RIGHT = 12
TOP = 16
BOTTOM = 36  # room for the month labels
TICKS = 4


@dataclass(frozen=True, slots=True)
class Bar:
    month: date
    amount: int
    x: float
    y: float
    width: float
    height: float
    label_x: float


@dataclass(frozen=True, slots=True)
class Tick:
    amount: int
    y: float


@dataclass(frozen=True, slots=True)
class Chart:
    currency: str
    bars: list[Bar]
    ticks: list[Tick]
    total: int
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    baseline: int = HEIGHT - BOTTOM


def last_months(today: date, count: int = 12) -> list[date]:
    """The first days of the last `count` months, oldest first, this month last."""
    months = []
    year, month = today.year, today.month
    for _ in range(count):
        months.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


def _nice_ceiling(value: int) -> int:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is >= value (at least 1)."""
    if value <= 0:
        return 1
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 2.5, 5, 10):
        candidate = int(step * magnitude)
        if candidate >= value:
            return candidate
    return 10 * magnitude


def build(currency: str, months: list[date], amounts: dict[date, int]) -> Chart:
    """Bars for `months` (amounts in minor units; a month without payments is 0)."""
    values = [amounts.get(m, 0) for m in months]
    top = _nice_ceiling(max(values, default=0))
    plot_height = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(months), 1)
    bar_width = slot * 0.64
    bars = []
    for index, (month, amount) in enumerate(zip(months, values, strict=True)):
        height = plot_height * amount / top
        x = LEFT + index * slot + (slot - bar_width) / 2
        bars.append(
            Bar(
                month=month,
                amount=amount,
                x=round(x, 1),
                y=round(TOP + plot_height - height, 1),
                width=round(bar_width, 1),
                height=round(height, 1),
                label_x=round(LEFT + index * slot + slot / 2, 1),
            )
        )
    ticks = [
        Tick(amount=top * i // TICKS, y=round(TOP + plot_height - plot_height * i / TICKS, 1))
        for i in range(TICKS + 1)
    ]
    return Chart(currency=currency, bars=bars, ticks=ticks, total=sum(values))
