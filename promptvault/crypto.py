"""AES-256-GCM sealing with versioned master keys: the primitives of the vault's envelope encryption."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from promptvault.errors import DecryptionError

KEY_BYTES = 32
NONCE_BYTES = 12
PREFIX = "pv"  # stored form: pv:v<master or data-key version>:<base64url(nonce || ciphertext || tag)>


@dataclass(frozen=True)
class MasterKeyring:
    """The master keys by version; the newest wraps, any present one unwraps. Never printed."""

    keys: dict[int, bytes] = field(repr=False)

    @property
    def active_version(self) -> int:
        """The version new wrappings use."""
        return max(self.keys)

    def key(self, version: int) -> bytes:
        """The master key of a version, or DecryptionError when it is unknown or retired."""
        try:
            return self.keys[version]
        except KeyError:
            raise DecryptionError(f"master key v{version} is not available (retired or never configured)") from None


def new_key() -> bytes:
    """A fresh random 256-bit key."""
    return AESGCM.generate_key(bit_length=256)


def seal(key: bytes, plaintext: bytes, aad: bytes, version: int) -> str:
    """Encrypt with a fresh 96-bit nonce; the result names the key version it was sealed with."""
    nonce = os.urandom(NONCE_BYTES)
    body = nonce + AESGCM(key).encrypt(nonce, plaintext, aad)
    return f"{PREFIX}:v{version}:{base64.urlsafe_b64encode(body).decode('ascii')}"


def sealed_version(token: str) -> int:
    """The key version a sealed token names, or DecryptionError if the token is malformed."""
    parts = token.split(":") if isinstance(token, str) else []
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1].startswith("v") or not parts[1][1:].isdigit():
        raise DecryptionError("ciphertext is malformed")
    return int(parts[1][1:])


def open_sealed(key: bytes, token: str, aad: bytes) -> bytes:
    """Decrypt and authenticate; any tampering, wrong key or wrong associated data raises DecryptionError."""
    sealed_version(token)
    try:
        body = base64.urlsafe_b64decode(token.split(":", 2)[2].encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise DecryptionError("ciphertext is malformed") from None
    if len(body) < NONCE_BYTES + 16:
        raise DecryptionError("ciphertext is truncated")
    try:
        return AESGCM(key).decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], aad)
    except InvalidTag:
        raise DecryptionError("ciphertext failed authentication (wrong key, tampered, or moved from another row)") from None


def wrap_key(keyring: MasterKeyring, key: bytes, aad: bytes) -> str:
    """Seal a data key under the active master key; `aad` must name the row and so the master version."""
    return seal(keyring.key(keyring.active_version), key, aad, keyring.active_version)


def unwrap_key(keyring: MasterKeyring, token: str, aad: bytes) -> bytes:
    """Open a data key sealed by `wrap_key`, with the master key version the token names."""
    key = open_sealed(keyring.key(sealed_version(token)), token, aad)
    if len(key) != KEY_BYTES:
        raise DecryptionError("unwrapped data key has the wrong length")
    return key


def aad(*parts: object) -> bytes:
    """Associated data from labelled row fields, e.g. aad("key", team, key_id, provider)."""
    return "|".join(str(part) for part in parts).encode("utf-8")


def keyed_hash(key: bytes, value: str) -> str:
    """HMAC-SHA256 of a value (for values near secrets that must be comparable, never readable)."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def fingerprint(key: bytes) -> str:
    """A short public fingerprint of a key (for logs and messages; reveals nothing usable)."""
    return hashlib.sha256(b"pv-fingerprint|" + key).hexdigest()[:12]
