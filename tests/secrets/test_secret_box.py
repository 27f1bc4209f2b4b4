"""AES-GCM sealing of Secret values (services/secret_box.py): round trips, refusal of a tampered
value, of a value moved to another Secret or key, and of another key; the key file."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetyard.services.secret_box import SecretBox, SecretKeyError, SecretUnreadable, load_or_create_key

BOX = SecretBox(bytes(range(32)))


@given(st.text(max_size=300))
def test_seal_then_open_is_the_identity(value: str) -> None:
    sealed = BOX.seal("openai", "token", value)
    assert sealed.startswith(f"fyenc:v1:{BOX.key_id}:")
    assert BOX.open("openai", "token", sealed) == value


def test_each_seal_has_its_own_nonce() -> None:
    a, b = BOX.seal("s", "k", "same value"), BOX.seal("s", "k", "same value")
    assert a != b and a.split(":")[3] != b.split(":")[3]
    assert BOX.digest("s", "k", "same value") == BOX.digest("s", "k", "same value") != BOX.digest("s", "k", "other")


def test_a_changed_byte_anywhere_is_refused_with_a_reason() -> None:
    sealed = BOX.seal("openai", "token", "sk-live-123456789")
    prefix, body = sealed.rsplit(":", 1)
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    for i in range(len(raw)):
        bad = bytearray(raw)
        bad[i] ^= 0x01
        text = base64.urlsafe_b64encode(bytes(bad)).decode().rstrip("=")
        with pytest.raises(SecretUnreadable, match="Secret openai key token: the stored value was tampered with"):
            BOX.open("openai", "token", f"{prefix}:{text}")


def test_a_value_moved_to_another_secret_or_key_does_not_open() -> None:
    sealed = BOX.seal("openai", "token", "sk-live-123456789")
    for secret, key in (("other", "token"), ("openai", "org")):
        with pytest.raises(SecretUnreadable, match="belongs to another Secret or key"):
            BOX.open(secret, key, sealed)


def test_another_key_and_damaged_text_are_named() -> None:
    sealed = BOX.seal("s", "k", "v" * 20)
    other = SecretBox(bytes(32))
    with pytest.raises(SecretUnreadable, match=f"sealed with key {BOX.key_id}, this server's key is {other.key_id}"):
        other.open("s", "k", sealed)
    for bad, words in (("plain text", "not a sealed value"), ("fyenc:v2:x:y:z", "not a sealed value"),
                       (f"fyenc:v1:{BOX.key_id}:!!:!!", "damaged"), (f"fyenc:v1:{BOX.key_id}:AAAA:AAAA", "nonce")):
        with pytest.raises(SecretUnreadable, match=words):
            BOX.open("s", "k", bad)


def test_the_key_file_is_made_once_mode_0600_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secrets.key"
    box, made = load_or_create_key(path, create=True)
    assert made and path.stat().st_mode & 0o777 == 0o600
    again, made_again = load_or_create_key(path, create=True)
    assert not made_again and again.key == box.key
    with pytest.raises(SecretKeyError, match="no such file"):
        load_or_create_key(tmp_path / "given.key", create=False)
    for text, words in (("not base64!", "expected one line of base64"), ("AAAA", "expected 32 bytes of key, got 3")):
        (tmp_path / "bad.key").write_text(text)
        with pytest.raises(SecretKeyError, match=words):
            load_or_create_key(tmp_path / "bad.key", create=False)
