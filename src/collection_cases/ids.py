"""Object ids and case references."""

from __future__ import annotations

import re
import secrets
import uuid

import uuid_utils

REFERENCE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
REFERENCE_LENGTH = 8
REFERENCE_RE = re.compile(r"[A-Za-z0-9]{8}")  # use with fullmatch
_HEX32 = re.compile(r"[0-9a-f]{32}")  # use with fullmatch: "$" would accept a trailing \n


def new_uuid7() -> uuid.UUID:
    # uuid_utils returns its own UUID type; the driver wants the stdlib one.
    return uuid.UUID(bytes=uuid_utils.uuid7().bytes)


def encode(prefix: str, value: uuid.UUID) -> str:
    return f"{prefix}_{value.hex}"


def decode(prefix: str, ident: str) -> uuid.UUID | None:
    """The UUID behind a public id, or None when it cannot be one of ours."""
    head, sep, tail = ident.partition("_")
    if not sep or head != prefix or not _HEX32.fullmatch(tail):
        return None
    return uuid.UUID(hex=tail)


_RANDOM_ID = re.compile(r"[a-z]{1,4}_[0-9a-f]{24,32}")
_NAMED_ID = re.compile(r"cp_[A-Za-z0-9_]{1,60}")


def looks_like(prefix: str, ident: str) -> bool:
    """Whether `ident` could be one of our `prefix_...` ids (else: not found, no query)."""
    if prefix == "cp":
        return bool(_NAMED_ID.fullmatch(ident))
    return ident.startswith(prefix + "_") and bool(_RANDOM_ID.fullmatch(ident))


def random_id(prefix: str, nbytes: int = 12) -> str:
    return f"{prefix}_{secrets.token_hex(nbytes)}"


def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))
