"""The catalog of event types: the ones this API writes, and the platform's other products'.

Webhook endpoints may subscribe to, and the events list may filter on, any catalogued type or
family (`collection_case.*`): the vendor's pages subscribe endpoints to other products' events
(`payment_intent.succeeded`), and a client written against them must work unchanged. Types of
other products are accepted and simply never fire here. A type in no catalog is refused.
"""

from __future__ import annotations

# Written by this server (payments-debt-collection/debt-collection-events).
EVENT_TYPES = (
    "collection_case.created",
    "collection_case.updated",
    "collection_case.needs_details",
    "collection_case.active",
    "collection_case.paused",
    "collection_case.closed",
    "case_file.uploaded",
    "debt_payment.created",
    "case_chat.created",
)

# Documented on the vendor's other product pages (never written here).
PLATFORM_EVENT_TYPES: dict[str, tuple[str, ...]] = {
    "payments-collection": (
        "payment_intent.created",
        "payment_intent.requires_action",
        "payment_intent.processing",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        # getting-started/webhooks subscribes to this spelling.
        "payment_intent.failed",
        "payment_intent.canceled",
        "charge.succeeded",
        "charge.failed",
        "charge.refunded",
        "payment_method.attached",
        "payment_method.detached",
        "mandate.created",
        "mandate.active",
        "mandate.cancelled",
        "mandate.failed",
        "bank_authorisation.authorised",
        "bank_authorisation.failed",
        "dispute.created",
        "dispute.updated",
        "dispute.won",
        "dispute.lost",
        "payment_agreement.created",
        "payment_agreement.activated",
        "payment_agreement.suspended",
        "payment_agreement.cancelled",
        "payment_request.created",
        "payment_request.processing",
        "payment_request.succeeded",
        "payment_request.failed",
        "payment_request.retrying",
    ),
    "invoicing": (
        "invoice.created",
        "invoice.finalized",
        "invoice.sent",
        "invoice.paid",
        "invoice.payment_failed",
        "invoice.voided",
        "invoice.marked_uncollectible",
        "invoice.updated",
        "credit_note.created",
        "credit_note.voided",
    ),
    "tenant-verification": (
        "verification_session.created",
        "verification_session.pending",
        "verification_session.processing",
        "verification_session.completed",
        "verification_session.expired",
        "verification_session.failed",
        "verification_report.ready",
        "document_upload.processed",
        "document_upload.rejected",
        "identity_check.passed",
        "identity_check.failed",
    ),
    "payments-guarantee": (
        "guarantee.created",
        "guarantee.activated",
        "guarantee.claimed",
        "guarantee.expired",
        "guarantee.cancelled",
        "claim.submitted",
        "claim.approved",
        "claim.denied",
        "claim.paid",
    ),
    "payments-payouts": ("payout.paid", "payout.failed"),
}
# Families the platform events page names only as wildcards (no single types documented).
PLATFORM_FAMILIES = ("score_request", "score_report")

ALL_TYPES = EVENT_TYPES + tuple(t for types in PLATFORM_EVENT_TYPES.values() for t in types)
FAMILIES = frozenset({t.split(".", 1)[0] for t in ALL_TYPES} | set(PLATFORM_FAMILIES))
_KNOWN = frozenset(ALL_TYPES)


def expand(pattern: str) -> list[str] | None:
    """The types a filter names (an exact type, or a family wildcard like
    "collection_case.*"), or None when no catalog knows it. A known family may expand to
    no types at all (its single types are not documented)."""
    if pattern.endswith(".*"):
        family = pattern[:-2]
        if family not in FAMILIES:
            return None
        return [t for t in ALL_TYPES if t.startswith(family + ".")]
    return [pattern] if pattern in _KNOWN else None
