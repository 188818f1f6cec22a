"""The server's secret key: loaded in this one place, for every use of it.

Webhook signing secrets and stored idempotent responses are sealed with it at rest (AES-256-GCM,
bound to their row); other uses (dashboard session cookies, CSRF tokens) take their own subkey
with `derive()`, never the key itself.

Where the key comes from, first found wins:
1. `COLLECTION_CASES_SECRET_KEY`;
2. the file `COLLECTION_CASES_SECRET_KEY_FILE` names (a mounted secret);
3. on the embedded default (no `DATABASE_URL`): `<data dir>/secret_key`, generated on first
   start (mode 0600). With an external database and no key, the server refuses to start: a key
   made up by one process would be unknown to the others, and lost with its container.

Rotation: put the old key in `COLLECTION_CASES_SECRET_KEYS_OLD` (comma separated; they still
decrypt), a new one in `COLLECTION_CASES_SECRET_KEY`, then `collection-cases secrets rotate`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:
    from collection_cases.config import Settings

MIN_LENGTH = 32
FILE_NAME = "secret_key"
SEALED_PREFIX = "cc1"  # cc1.<key id>.<base64url(nonce | ciphertext | tag)>
_NONCE = 12


class SecretKeyMissing(RuntimeError):
    """No usable key is configured; the message says what to do."""


class CannotUnseal(ValueError):
    """The value was sealed with a key that is not configured, or was altered."""


def generate() -> str:
    """A new key: 32 random bytes, base64url (43 characters)."""
    return secrets.token_urlsafe(32)


def _hkdf(key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)


@dataclass(frozen=True)
class _Key:
    material: bytes
    aead: AESGCM
    id: str  # identifies the key inside sealed values; reveals nothing about it

    @classmethod
    def of(cls, material: bytes) -> _Key:
        enc = _hkdf(material, b"collection-cases/seal/aes-256-gcm")
        key_id = hmac.new(enc, b"key-id", hashlib.sha256).hexdigest()[:8]
        return cls(material, AESGCM(enc), key_id)


class Keyring:
    """The current key (seals) and the old ones (still unseal)."""

    def __init__(self, current: str, old: tuple[str, ...] = ()) -> None:
        for value in (current, *old):
            if len(value) < MIN_LENGTH:
                raise SecretKeyMissing(
                    f"A secret key must be at least {MIN_LENGTH} characters; generate one with "
                    "`collection-cases secrets generate-key`."
                )
        self._current = _Key.of(current.encode())
        self._by_id = {k.id: k for k in (_Key.of(v.encode()) for v in old)}
        self._by_id[self._current.id] = self._current

    def derive(self, purpose: str) -> bytes:
        """A 32-byte subkey of the current key for one purpose (e.g. "session-cookies")."""
        return _hkdf(self._current.material, b"collection-cases/" + purpose.encode())

    def seal(self, plaintext: str, *, context: str) -> str:
        """Encrypt `plaintext` with the current key, bound to `context` (where it is stored):
        a sealed value copied to another row does not unseal there."""
        blob = base64.urlsafe_b64encode(self._encrypt(plaintext.encode(), context)).decode()
        return f"{SEALED_PREFIX}.{self._current.id}.{blob.rstrip('=')}"

    def unseal(self, sealed: str, *, context: str) -> str:
        prefix, _, rest = sealed.partition(".")
        key_id, _, blob = rest.partition(".")
        if prefix != SEALED_PREFIX:
            raise CannotUnseal("sealed with a key that is not configured")
        try:
            raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
            return self._decrypt(key_id, raw, context).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise CannotUnseal("the sealed value does not match its key or place") from None

    def seal_bytes(self, data: bytes, *, context: str) -> bytes:
        """`seal` for binary columns: `cc1.<key id>.` then nonce, ciphertext and tag, raw."""
        return f"{SEALED_PREFIX}.{self._current.id}.".encode() + self._encrypt(data, context)

    def unseal_bytes(self, sealed: bytes, *, context: str) -> bytes:
        prefix, key_id, raw = sealed.split(b".", 2) if sealed.count(b".") >= 2 else (b"", b"", b"")
        if prefix != SEALED_PREFIX.encode():
            raise CannotUnseal("not a sealed value")
        return self._decrypt(key_id.decode("ascii", "replace"), raw, context)

    @staticmethod
    def is_sealed_bytes(value: bytes) -> bool:
        return value.startswith(SEALED_PREFIX.encode() + b".")

    def _encrypt(self, data: bytes, context: str) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._current.aead.encrypt(nonce, data, context.encode())

    def _decrypt(self, key_id: str, raw: bytes, context: str) -> bytes:
        key = self._by_id.get(key_id)
        if key is None:
            raise CannotUnseal("sealed with a key that is not configured")
        try:
            return key.aead.decrypt(raw[:_NONCE], raw[_NONCE:], context.encode())
        except (InvalidTag, ValueError):
            raise CannotUnseal("the sealed value does not match its key or place") from None

    def is_current(self, sealed: str | bytes) -> bool:
        mark = f"{SEALED_PREFIX}.{self._current.id}."
        if isinstance(sealed, bytes):
            return sealed.startswith(mark.encode())
        return sealed.startswith(mark)


def ensure_file(data_dir: Path) -> tuple[Path, bool]:
    """The embedded default's key file under `data_dir`, created if missing: (path, created)."""
    path = data_dir.expanduser().resolve() / FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path, False  # another process (or an earlier start) made it
    with os.fdopen(fd, "w") as f:
        f.write(generate() + "\n")
    return path, True


@lru_cache(maxsize=8)
def _read(path: Path) -> str:
    """A key file's key, read once per process (a new key means a restart anyway)."""
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise SecretKeyMissing(f"Cannot read the secret key file {path}: {exc.strerror}.") from None


@lru_cache(maxsize=8)
def _keyring(current: str, old: str) -> Keyring:
    return Keyring(current, tuple(k.strip() for k in old.split(",") if k.strip()))


def keyring(settings: Settings | None = None) -> Keyring:
    """The keys the settings describe (the process settings by default)."""
    if settings is None:
        from collection_cases.config import get_settings

        settings = get_settings()
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        current = settings.secret_key.get_secret_value()
    elif settings.secret_key_file:
        current = _read(Path(settings.secret_key_file))
    elif settings.database_url is None:
        current = _read(ensure_file(settings.data_dir)[0])
    else:
        raise SecretKeyMissing(
            "COLLECTION_CASES_SECRET_KEY is not set. With an external DATABASE_URL every "
            "process must share one secret key (it encrypts webhook secrets and stored "
            "idempotent responses at rest): generate "
            "one with `collection-cases secrets generate-key` and set it (or point "
            "COLLECTION_CASES_SECRET_KEY_FILE at a file holding it) for every process."
        )
    return _keyring(current, settings.secret_keys_old.get_secret_value())


def derive(purpose: str, settings: Settings | None = None) -> bytes:
    """A subkey of the current secret key for one purpose."""
    return keyring(settings).derive(purpose)


def webhook_secret_context(endpoint_id: str) -> str:
    """Where a webhook secret is stored: the row it belongs to."""
    return f"webhook_endpoints.secret:{endpoint_id}"
