"""Password hashing (Argon2id) and the password policy.

Parameters: RFC 9106's second recommended profile, t=3 passes over m=64 MiB with p=4 lanes, 16-byte salt and
32-byte tag. That is stronger than every OWASP Argon2id option (the floor being m=19 MiB, t=2, p=1) and costs
about 0.12 s per hash or verify on a 2-core server; 64 MiB per concurrent login is the price.
"""

from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from promptvault.errors import ValidationError

TIME_COST = 3
MEMORY_COST_KIB = 65_536
PARALLELISM = 4
MIN_CHARS = 12
MAX_CHARS = 1_024

HASHER = PasswordHasher(
    time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM, hash_len=32, salt_len=16, type=Type.ID,
)


def check_policy(password: object) -> str:
    """The password if it meets the policy, else ValidationError naming the rule it breaks."""
    if not isinstance(password, str):
        raise ValidationError("the password must be text")
    if "\x00" in password:
        raise ValidationError("the password may not contain a NUL character")
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("the password must be valid UTF-8 text") from None
    if len(password) < MIN_CHARS:
        raise ValidationError(f"the password must be at least {MIN_CHARS} characters long")
    if len(password) > MAX_CHARS:
        raise ValidationError(f"the password must be at most {MAX_CHARS} characters long")
    return password


def hash_password(password: str) -> str:
    """An Argon2id hash (PHC string, salt and parameters included) of a password that meets the policy."""
    return HASHER.hash(check_policy(password))


def verify_password(password_hash: str, password: str) -> bool:
    """Whether the password matches the hash; a mismatch or a malformed hash is False, never an exception."""
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError, UnicodeEncodeError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether a hash was made with other parameters than the current ones (rehash it at the next login)."""
    try:
        return HASHER.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return True


def dummy_hash() -> str:
    """A hash of a random password with the current parameters: verifying against it costs a real verify."""
    hasher = HASHER
    return _dummy_for(hasher.time_cost, hasher.memory_cost, hasher.parallelism, hasher.hash_len, hasher.salt_len)


@functools.cache
def _dummy_for(time_cost: int, memory_cost: int, parallelism: int, hash_len: int, salt_len: int) -> str:
    """One dummy hash per parameter set, made on first use (so importing this module costs nothing)."""
    hasher = PasswordHasher(time_cost, memory_cost, parallelism, hash_len, salt_len, type=Type.ID)
    return hasher.hash(secrets.token_urlsafe(32))


def rehash_password(password: str) -> str:
    """A fresh hash, with the current parameters, of a password that has just verified (its policy stands)."""
    return HASHER.hash(password)
