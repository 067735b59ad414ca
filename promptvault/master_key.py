"""The master key that wraps the vault's data keys: from the environment or a 0600 key file."""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from promptvault.config import Settings
from promptvault.crypto import MasterKeyring
from promptvault.errors import ConfigurationError

KEY_BYTES = 32


def create_key_file(path: Path) -> bool:
    """Create the key file with a fresh versioned key (mode 0600); False when it already exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    encoded = base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        handle.write(f"v1:{encoded}\n")
    return True


def parse_master_keys(text: str) -> dict[int, bytes]:
    """Parse `vN:<base64 32 bytes>` lines (one per master-key version) into {version: key}."""
    keys: dict[int, bytes] = {}
    for number, line in enumerate(text.split(), start=1):
        version, _, encoded = line.partition(":")
        if not (version.startswith("v") and version[1:].isdigit() and encoded):
            raise ConfigurationError(f"master key line {number} is not of the form vN:<base64>")
        try:
            key = base64.urlsafe_b64decode(encoded.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise ConfigurationError(f"master key {version} is not valid base64") from None
        if len(key) != KEY_BYTES:
            raise ConfigurationError(f"master key {version} must be {KEY_BYTES} bytes, not {len(key)}")
        keys[int(version[1:])] = key
    if not keys:
        raise ConfigurationError("the master key is empty")
    return keys


def load_keyring(settings: Settings) -> MasterKeyring:
    """The master keyring: PROMPTVAULT_MASTER_KEY first, then the key file; a missing or bad key stops us."""
    return MasterKeyring(load_master_keys(settings))


def add_key_version(path: Path) -> int:
    """Append a fresh master key as the next version of the key file (atomically, mode 0600); its version."""
    keys = parse_master_keys(path.read_text(encoding="ascii"))
    version = max(keys) + 1
    lines = [f"v{v}:{base64.urlsafe_b64encode(k).decode('ascii')}" for v, k in sorted(keys.items())]
    lines.append(f"v{version}:{base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode('ascii')}")
    _write_private(path, "\n".join(lines) + "\n")
    return version


def remove_key_version(path: Path, version: int) -> None:
    """Drop one retired version from the key file (atomically, mode 0600)."""
    keys = parse_master_keys(path.read_text(encoding="ascii"))
    keys.pop(version, None)
    if not keys:
        raise ConfigurationError("cannot remove the last master key")
    lines = [f"v{v}:{base64.urlsafe_b64encode(k).decode('ascii')}" for v, k in sorted(keys.items())]
    _write_private(path, "\n".join(lines) + "\n")


def _write_private(path: Path, text: str) -> None:
    """Write a 0600 file through a temporary name and a rename, so a crash leaves the old or the new file."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def load_master_keys(settings: Settings) -> dict[int, bytes]:
    """The master keys by version: PROMPTVAULT_MASTER_KEY first, then the key file; fail if neither."""
    if settings.master_key:
        return parse_master_keys(settings.master_key)
    path = settings.master_key_file
    if not path.exists():
        raise ConfigurationError(f"no master key: set PROMPTVAULT_MASTER_KEY or run `promptvault init` to create {path}")
    if path.stat().st_mode & 0o077:
        raise ConfigurationError(f"master key file {path} is readable by others; run: chmod 600 {path}")
    return parse_master_keys(path.read_text(encoding="ascii", errors="replace"))
