"""Permissions: `resource:read` and `resource:write` (write implies read), and what each kind of
key is granted.

The resources are this server's own (each operation needs one of their permissions), plus the
names of the vendor platform's other documented resources: a restricted key may list those
(the tokens page's own example asks for `payment_intents:read`), and they grant nothing here.
A name in neither list is refused when a token is created.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

Level = Literal["read", "write"]
LEVELS: tuple[Level, ...] = ("read", "write")

# What this server serves, one resource per family of operations.
RESOURCES: tuple[str, ...] = (
    "collection_cases",
    "case_files",
    "case_chats",
    "debt_payments",
    "collection_partners",
    "collection_coverage",
    "collection_case_previews",
    "events",
    "webhook_endpoints",
    "tokens",
)

# The platform's other products, by the API paths their pages document (/v1/<name>). Accepted
# so a token made for the whole platform works here too; nothing here needs them.
PLATFORM_RESOURCES: tuple[str, ...] = (
    "balance",
    "balance_transactions",
    "bank_accounts",
    "claims",
    "credit_notes",
    "customers",
    "document_uploads",
    "files",
    "guarantee_policies",
    "guarantees",
    "identity_checks",
    "invoice_templates",
    "invoices",
    "payment_agreements",
    "payment_intents",
    "payment_methods",
    "payment_requests",
    "payout_items",
    "payout_schedules",
    "payouts",
    "score_reports",
    "score_requests",
    "setup_intents",
    "verification_reports",
    "verification_sessions",
)


def name(resource: str, level: Level) -> str:
    return f"{resource}:{level}"


KNOWN: frozenset[str] = frozenset(
    name(resource, level) for resource in RESOURCES + PLATFORM_RESOURCES for level in LEVELS
)
# Every permission over this server's own resources.
ALL_READ: tuple[str, ...] = tuple(name(resource, "read") for resource in RESOURCES)
ALL: tuple[str, ...] = tuple(name(resource, level) for resource in RESOURCES for level in LEVELS)
# What a publishable key (shipped in client-side code) may do: the registry, which reveals no
# debtor, and previews, which store nothing.
PUBLISHABLE: frozenset[str] = frozenset(
    {
        "collection_partners:read",
        "collection_coverage:read",
        "collection_case_previews:read",
    }
)


def unknown_names(names: Iterable[str]) -> list[str]:
    """The names that are no permission (in the order given)."""
    return [n for n in names if n not in KNOWN]


def grants(kind: str, held: frozenset[str], resource: str, level: Level) -> bool:
    """Whether a key of `kind` holding `held` (restricted keys) may do `level` on `resource`."""
    if kind == "secret":
        return True
    if kind == "publishable":
        return name(resource, level) in PUBLISHABLE
    if level == "read" and name(resource, "read") in held:
        return True
    return name(resource, "write") in held
