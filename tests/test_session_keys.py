"""Session-only keys: sealed in memory under a per-process key, revealed for one call, never written anywhere."""

from __future__ import annotations

import base64
import builtins
import copy
import io
import json
import os
import pickle
import secrets
from dataclasses import asdict, replace

import pytest

from promptvault.errors import DecryptionError, ValidationError
from promptvault.session_keys import SESSION_KEYRING, SessionKey, SessionKeyring


def canary() -> str:
    """A fresh, unmistakable fake provider key."""
    return "sk-canary-" + secrets.token_hex(16)


def test_session_keyring_round_trip():
    ring, secret = SessionKeyring(), canary()
    key = ring.put("OpenAI", secret, label="mine")
    assert ring.reveal(key) == secret
    assert (key.provider, key.label, key.last4, key.api_base) == ("openai", "mine", secret[-4:], None)


def test_session_keyring_made_at_import_is_ready():
    secret = canary()
    assert SESSION_KEYRING.reveal(SESSION_KEYRING.put("anthropic", secret)) == secret


def test_session_key_holds_no_plaintext():
    ring, secret = SessionKeyring(), canary()
    key = ring.put("custom", secret, label="local", api_base="http://localhost:8000/v1")
    assert secret not in repr(key) and secret not in json.dumps(asdict(key))
    assert secret.encode() not in pickle.dumps(key)  # what st.session_state may hold or serialise
    assert secret not in repr(ring)


def test_session_key_from_another_process_does_not_open():
    key = SessionKeyring().put("openai", canary())
    with pytest.raises(DecryptionError, match="failed authentication"):
        SessionKeyring().reveal(key)  # a restart makes a new process key


@pytest.mark.parametrize(
    "changes",
    [{"provider": "anthropic"}, {"api_base": "https://attacker.example"}, {"label": "other"}, {"last4": "0000"}],
)
def test_session_key_with_altered_fields_does_not_open(changes):
    ring = SessionKeyring()
    key = ring.put("openai", canary(), label="mine")
    with pytest.raises(DecryptionError, match="failed authentication"):
        ring.reveal(replace(key, **changes))


@pytest.mark.parametrize("offset", [0, 12, -1])  # nonce, ciphertext, tag
def test_session_key_with_a_flipped_bit_does_not_open(offset):
    ring = SessionKeyring()
    key = ring.put("openai", canary())
    head, body = key.sealed.rsplit(":", 1)
    raw = bytearray(base64.urlsafe_b64decode(body))
    raw[offset] ^= 0x01
    with pytest.raises(DecryptionError, match="failed authentication"):
        ring.reveal(replace(key, sealed=f"{head}:{base64.urlsafe_b64encode(bytes(raw)).decode()}"))


def test_session_key_never_sealed_does_not_open():
    with pytest.raises(DecryptionError, match="malformed"):
        SessionKeyring().reveal(SessionKey(provider="openai", label="", last4=""))


@pytest.mark.parametrize("copier", [pickle.dumps, copy.deepcopy, copy.copy])
def test_session_keyring_cannot_be_pickled_or_copied(copier):
    with pytest.raises(TypeError, match="never leaves this process"):
        copier(SessionKeyring())


def test_session_keyring_touches_no_file(monkeypatch):
    def no_files(*args, **kwargs):
        raise AssertionError("a session key touched the file system")

    for module, name in ((builtins, "open"), (io, "open"), (os, "open")):
        monkeypatch.setattr(module, name, no_files)
    ring, secret = SessionKeyring(), canary()
    assert ring.reveal(ring.put("openai", secret)) == secret


@pytest.mark.parametrize(
    "provider, secret, extra, problem",
    [
        ("open ai", "sk-CANARY-0123456789", {}, "provider must be"),
        ("openai", "", {}, "the key is empty"),
        ("openai", "sk-CANARY with-space", {}, "printable ASCII"),
        ("custom", "sk-CANARY-0123456789", {}, "custom provider needs"),
        ("openai", "sk-CANARY-0123456789", {"label": "l" * 101}, "label is 101 characters"),
        ("openai", "sk-CANARY-0123456789", {"api_base": "https://u:CANARY@host"}, "credentials"),
    ],
)
def test_session_keyring_refuses_bad_input_without_echoing_it(provider, secret, extra, problem):
    with pytest.raises(ValidationError, match=problem) as caught:
        SessionKeyring().put(provider, secret, **extra)
    assert "CANARY" not in str(caught.value)
