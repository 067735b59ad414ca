"""Session-only provider keys: sealed in memory under a per-process key, never written anywhere."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from promptvault.content import check_text
from promptvault.crypto import aad, new_key, open_sealed, seal
from promptvault.vault import MAX_LABEL_CHARS, check_provider, check_secret, last4


@dataclass(frozen=True)
class SessionKey:
    """A pasted key as a session keeps it: ciphertext under the process key, so safe in st.session_state."""

    provider: str
    label: str
    last4: str
    api_base: str | None = None
    sealed: str = field(default="", repr=False)


class SessionKeyring:
    """Seals session-only keys under a random key that exists only in this process's memory."""

    def __init__(self) -> None:
        self._key = new_key()

    def put(self, provider: str, secret: str, label: str = "", api_base: str | None = None) -> SessionKey:
        """Seal a pasted key for this session; the result holds no plaintext."""
        provider, api_base = check_provider(provider, api_base)
        secret = check_secret(secret)
        check_text(label, "label", MAX_LABEL_CHARS)
        unsealed = SessionKey(provider=provider, label=label, last4=last4(secret), api_base=api_base)
        return replace(unsealed, sealed=seal(self._key, secret.encode("ascii"), _aad(unsealed), 1))

    def reveal(self, key: SessionKey) -> str:
        """The plaintext for one provider call; DecryptionError if the key was altered or sealed by another process."""
        return open_sealed(self._key, key.sealed, _aad(key)).decode("ascii")

    def __repr__(self) -> str:
        return "SessionKeyring(<in-memory key>)"

    def __reduce__(self):
        raise TypeError("a SessionKeyring cannot be pickled: its key never leaves this process")


def _aad(key: SessionKey) -> bytes:
    """Associated data binding the ciphertext to the provider, endpoint, label and tail it is shown with."""
    return aad("session-key", json.dumps([key.provider, key.api_base, key.label, key.last4]))


# Generated at import and never persisted: a restart forgets every session key, as it should.
SESSION_KEYRING = SessionKeyring()
