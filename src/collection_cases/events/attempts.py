"""What a tenant sees of a delivery attempt: a coarse outcome, never network detail.

An endpoint owner controls the URL, so anything finer than "the receiver answered with this
status" (error class names, connect-versus-read timeouts, how long a failure took) would let
them map what the server can reach. Operators get the detail in the server's logs instead.
"""

from __future__ import annotations

from typing import Any, Literal

Outcome = Literal[
    "delivered",  # the receiver answered 2xx
    "http_error",  # the receiver answered, not 2xx (status_code says what)
    "no_response",  # no HTTP answer: name not resolved, connection failed, TLS, timeout
    "blocked_destination",  # the URL reaches an address the egress policy refuses
    "endpoint_disabled",
    "internal_error",  # our side could not send (logged for operators)
]
ANSWERED = ("delivered", "http_error")


def public(entry: dict[str, Any]) -> dict[str, Any]:
    """One attempt as the API shows it (also for entries stored before outcomes existed)."""
    outcome = entry.get("outcome")
    status_code = entry.get("status_code")
    if outcome is None:
        if isinstance(status_code, int):
            outcome = "delivered" if 200 <= status_code < 300 else "http_error"
        elif entry.get("error") == "endpoint disabled":
            outcome = "endpoint_disabled"
        else:
            outcome = "no_response"
    shown: dict[str, Any] = {
        "at": entry.get("at"),
        "attempt": entry.get("attempt"),
        "outcome": outcome,
        "status_code": None,
        "duration_ms": None,
    }
    if outcome in ANSWERED:
        shown["status_code"] = status_code
        shown["duration_ms"] = entry.get("duration_ms")
    return shown
