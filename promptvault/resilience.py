"""How the runner survives providers: backoff with jitter, a circuit breaker per provider and key, and limits.

Retries belong to the runner alone (litellm's are off). A retry waits an exponentially growing, fully
jittered delay, and never less than the provider's Retry-After. A Retry-After of a second or more (a
quota window, not per-request pacing) pauses the whole provider, not just the call that was told to wait. The breaker opens after consecutive failures that mean "down"
(server errors, timeouts, connection failures, auth), so the rest of a dead provider's cells fail fast;
after a cool-down one probe call may try again. Rate limits never open it: a busy provider is not dead.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from promptvault.errors import ConfigurationError

MAX_ATTEMPTS = 4
BASE_DELAY = 0.25
MAX_DELAY = 20.0
MAX_RETRY_AFTER = 60.0  # a provider asking for more is treated as down for this attempt
PAUSE_PROVIDER_AFTER = 1.0  # a Retry-After this long pauses every call to the provider; shorter ones pace one call
BREAKER_THRESHOLD = 5
BREAKER_COOLDOWN = 30.0
BREAKER_KINDS = frozenset({"server", "timeout", "connection", "auth", "broken_response"})
LIMITS_ENV = "PROMPTVAULT_PROVIDER_CONCURRENCY"


def backoff_delay(attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
    """Seconds before attempt `attempt + 1`: full jitter over base·2^(attempt-1), at least Retry-After."""
    ceiling = min(MAX_DELAY, BASE_DELAY * 2 ** max(attempt - 1, 0))
    jittered = (rng or random).uniform(ceiling / 2, ceiling)
    return max(jittered, min(retry_after or 0.0, MAX_RETRY_AFTER))


@dataclass
class CircuitBreaker:
    """Opens after `threshold` consecutive down-failures; after `cooldown` s lets one probe through."""

    threshold: int = BREAKER_THRESHOLD
    cooldown: float = BREAKER_COOLDOWN
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False
    last_error: str = ""

    def allow(self) -> bool:
        """Whether a call may go out now (closed, or the one half-open probe)."""
        if self.opened_at is None:
            return True
        if not self.probing and time.monotonic() - self.opened_at >= self.cooldown:
            self.probing = True
            return True
        return False

    def record_success(self) -> None:
        """A call worked: close."""
        self.failures, self.opened_at, self.probing = 0, None, False

    def record_failure(self, kind: str, message: str) -> None:
        """A call failed; down-kinds count towards opening (a failed probe re-opens at once), others prove it is up."""
        if kind not in BREAKER_KINDS:  # a rate limit or a refused request: the provider is up and answering
            self.record_success()
            return
        self.failures += 1
        self.last_error = f"{kind}: {message}"
        if self.probing or self.failures >= self.threshold:
            self.opened_at, self.probing = time.monotonic(), False

    @property
    def is_open(self) -> bool:
        """Whether calls are being failed fast."""
        return self.opened_at is not None


@dataclass
class ProviderGate:
    """A provider's concurrency limit and the time before which it asked us not to call (Retry-After)."""

    limit: asyncio.Semaphore
    not_before: float = 0.0

    async def wait_turn(self) -> None:
        """Sleep until the provider's pause (if any) is over."""
        while (delay := self.not_before - time.monotonic()) > 0:
            await asyncio.sleep(delay)

    def pause(self, seconds: float) -> None:
        """Ask every call to this provider to wait `seconds` from now."""
        self.not_before = max(self.not_before, time.monotonic() + min(seconds, MAX_RETRY_AFTER))


@dataclass
class Limits:
    """Per-provider gates created on first use, each capped at the run's concurrency."""

    concurrency: int
    per_provider: Mapping[str, int] = field(default_factory=dict)
    gates: dict[str, ProviderGate] = field(default_factory=dict)

    def gate(self, provider: str) -> ProviderGate:
        """The gate of a provider."""
        if provider not in self.gates:
            limit = min(self.per_provider.get(provider, self.concurrency), self.concurrency)
            self.gates[provider] = ProviderGate(asyncio.Semaphore(limit))
        return self.gates[provider]


def provider_limits(environ: Mapping[str, str] = os.environ) -> dict[str, int]:
    """Per-provider concurrency caps from PROMPTVAULT_PROVIDER_CONCURRENCY, e.g. "anthropic=10,openai=50"."""
    raw = environ.get(LIMITS_ENV, "").strip()
    limits: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip().isdigit() or int(value) < 1:
            raise ConfigurationError(f"{LIMITS_ENV}: '{item}' is not provider=positive-number")
        limits[name.strip()] = int(value)
    return limits
