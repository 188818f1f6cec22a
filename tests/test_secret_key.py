"""The server's secret key: where it comes from, sealing, old keys, subkeys."""

from __future__ import annotations

import stat

import pytest
from pydantic import SecretStr

from collection_cases import secret_key
from collection_cases.config import Settings
from collection_cases.secret_key import CannotUnseal, Keyring, SecretKeyMissing

OLD = "old-key-" + "o" * 40
NEW = "new-key-" + "n" * 40


class TestKeyring:
    def test_seal_round_trip_and_no_clear_text(self):
        keys = Keyring(NEW)
        sealed = keys.seal("whsec_abc", context="webhook_endpoints.secret:we_1")
        assert sealed.startswith("cc1.")
        assert "whsec_abc" not in sealed
        assert keys.unseal(sealed, context="webhook_endpoints.secret:we_1") == "whsec_abc"
        # Random nonces: sealing twice never gives the same text.
        assert sealed != keys.seal("whsec_abc", context="webhook_endpoints.secret:we_1")

    def test_bound_to_its_row(self):
        keys = Keyring(NEW)
        sealed = keys.seal("whsec_abc", context="webhook_endpoints.secret:we_1")
        with pytest.raises(CannotUnseal):
            keys.unseal(sealed, context="webhook_endpoints.secret:we_2")

    def test_tampering_is_detected(self):
        keys = Keyring(NEW)
        sealed = keys.seal("whsec_abc", context="c")
        flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
        for bad in (flipped, sealed[:-4], "cc1.xxxxxxxx.AAAA", "whsec_abc", ""):
            with pytest.raises(CannotUnseal):
                keys.unseal(bad, context="c")

    def test_old_keys_still_open_and_rotation_is_visible(self):
        sealed_by_old = Keyring(OLD).seal("whsec_abc", context="c")
        with pytest.raises(CannotUnseal):
            Keyring(NEW).unseal(sealed_by_old, context="c")
        rotated = Keyring(NEW, (OLD,))
        assert rotated.unseal(sealed_by_old, context="c") == "whsec_abc"
        assert not rotated.is_current(sealed_by_old)
        assert rotated.is_current(rotated.seal("whsec_abc", context="c"))

    def test_short_keys_refused(self):
        with pytest.raises(SecretKeyMissing, match="at least 32"):
            Keyring("too-short")
        with pytest.raises(SecretKeyMissing):
            Keyring(NEW, ("short",))

    def test_bytes_seal_like_strings(self):
        keys = Keyring(NEW, (OLD,))
        sealed = Keyring(OLD).seal_bytes(b'{"key": "sk_x"}', context="row:1")
        assert keys.is_sealed_bytes(sealed)
        assert not keys.is_current(sealed)
        assert b"sk_x" not in sealed
        assert keys.unseal_bytes(sealed, context="row:1") == b'{"key": "sk_x"}'
        with pytest.raises(CannotUnseal):
            keys.unseal_bytes(sealed, context="row:2")
        with pytest.raises(CannotUnseal):
            Keyring(NEW).unseal_bytes(sealed, context="row:1")  # the old key is gone
        assert not keys.is_sealed_bytes(b'{"id": "dc_1"}')

    def test_subkeys(self):
        keys = Keyring(NEW, (OLD,))
        cookies = keys.derive("session-cookies")
        assert len(cookies) == 32
        assert cookies == Keyring(NEW).derive("session-cookies")  # stable across processes
        assert cookies != keys.derive("something-else")
        assert cookies != Keyring(OLD).derive("session-cookies")
        assert NEW.encode() not in cookies

    def test_generated_keys_are_random_and_long_enough(self):
        a, b = secret_key.generate(), secret_key.generate()
        assert a != b
        assert len(a) >= secret_key.MIN_LENGTH
        Keyring(a)


def _uses(keys: Keyring, key: str) -> bool:
    """Whether `keys` seals with `key`: what the holder of `key` alone can open."""
    return Keyring(key).unseal(keys.seal("probe", context="c"), context="c") == "probe"


class TestWhereTheKeyComesFrom:
    def test_environment_first(self, tmp_path):
        settings = Settings(secret_key=SecretStr(NEW), data_dir=tmp_path, database_url=None)
        assert _uses(secret_key.keyring(settings), NEW)
        assert not (tmp_path / "secret_key").exists()

    def test_key_file(self, tmp_path):
        path = tmp_path / "key"
        path.write_text(NEW + "\n")
        settings = Settings(secret_key=None, secret_key_file=str(path), database_url="postgres://x")
        assert _uses(secret_key.keyring(settings), NEW)
        missing = Settings(secret_key=None, secret_key_file=str(tmp_path / "nope"))
        with pytest.raises(SecretKeyMissing, match="Cannot read"):
            secret_key.keyring(missing)

    def test_embedded_default_generates_one_private_file(self, tmp_path):
        settings = Settings(secret_key=None, data_dir=tmp_path, database_url=None)
        keys = secret_key.keyring(settings)
        path = tmp_path / "secret_key"
        first = path.read_text().strip()
        assert _uses(keys, first)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        secret_key.keyring(settings)
        assert path.read_text().strip() == first  # kept, not made again
        assert secret_key.ensure_file(tmp_path) == (path.resolve(), False)

    def test_external_database_without_a_key_is_refused(self, tmp_path):
        settings = Settings(secret_key=None, data_dir=tmp_path, database_url="postgresql://db/x")
        with pytest.raises(SecretKeyMissing, match="COLLECTION_CASES_SECRET_KEY is not set"):
            secret_key.keyring(settings)
        assert not (tmp_path / "secret_key").exists()

    def test_old_keys_from_the_environment(self, tmp_path):
        sealed = Keyring(OLD).seal("whsec_abc", context="c")
        settings = Settings(
            secret_key=SecretStr(NEW),
            secret_keys_old=SecretStr(f" {OLD} , other-{'x' * 40}"),
            data_dir=tmp_path,
        )
        assert secret_key.keyring(settings).unseal(sealed, context="c") == "whsec_abc"

    def test_settings_never_print_the_key(self):
        settings = Settings(secret_key=SecretStr(NEW), secret_keys_old=SecretStr(OLD))
        assert NEW not in repr(settings)
        assert OLD not in repr(settings)
