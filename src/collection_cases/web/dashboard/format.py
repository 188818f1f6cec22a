"""Money and dates as the viewer reads them: the locale comes from Accept-Language (Babel's
CLDR data), amounts from minor units with each currency's own number of digits."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.numbers import format_compact_currency, format_currency, get_currency_precision

DEFAULT = "en_US"


@lru_cache(maxsize=256)
def negotiate(accept_language: str) -> Locale:
    """The first locale of the header (by quality) that CLDR knows; en_US otherwise."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")[:20]):
        tag, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, index, tag))
    for _, _, tag in sorted(ranked):
        try:
            return Locale.parse(tag.replace("-", "_"))
        except (ValueError, UnknownLocaleError):
            continue
    return Locale.parse(DEFAULT)


class Formatter:
    """Formats for one viewer's locale (used by the templates as `fmt`)."""

    def __init__(self, locale: Locale) -> None:
        self.locale = locale

    @property
    def lang(self) -> str:
        return str(self.locale).replace("_", "-")

    @staticmethod
    def major(minor: int, currency: str) -> Decimal:
        return Decimal(minor).scaleb(-get_currency_precision(currency.upper()))

    def money(self, minor: int | None, currency: str) -> str:
        """360000, "eur" -> "€3,600.00" (en), "3.600,00 €" (de)."""
        if minor is None:
            return ""
        return format_currency(self.major(minor, currency), currency.upper(), locale=self.locale)

    def money_short(self, minor: int, currency: str) -> str:
        """A compact amount for chart axes: "€3.6K"."""
        return format_compact_currency(
            self.major(minor, currency), currency.upper(), locale=self.locale, fraction_digits=1
        )

    def number(self, value: int) -> str:
        from babel.numbers import format_decimal

        return format_decimal(value, locale=self.locale)

    def timestamp(self, unix: int | None) -> str:
        """A Unix time in UTC, in the viewer's words (the page's script shows it in the
        viewer's own time zone)."""
        if unix is None:
            return ""
        moment = datetime.fromtimestamp(unix, UTC)
        return format_datetime(moment, "medium", tzinfo=UTC, locale=self.locale) + " UTC"

    @staticmethod
    def iso(unix: int) -> str:
        return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")

    def day(self, unix_or_date: int | date | None) -> str:
        """A calendar date (due dates, payment dates: midnight UTC as Unix time)."""
        if unix_or_date is None:
            return ""
        value = (
            unix_or_date
            if isinstance(unix_or_date, date)
            else datetime.fromtimestamp(unix_or_date, UTC).date()
        )
        return format_date(value, "medium", locale=self.locale)

    def month(self, value: date) -> str:
        return format_date(value, "MMM yyyy", locale=self.locale)

    def month_short(self, value: date) -> str:
        return format_date(value, "MMM", locale=self.locale)
