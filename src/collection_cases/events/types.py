"""Every event type the API writes (enabled_events are validated against this list)."""

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


def expand(pattern: str) -> list[str] | None:
    """The types a filter names: an exact type, or a family wildcard like "collection_case.*"."""
    if pattern.endswith(".*"):
        family = pattern[:-1]
        matched = [t for t in EVENT_TYPES if t.startswith(family)]
        return matched or None
    return [pattern] if pattern in EVENT_TYPES else None
