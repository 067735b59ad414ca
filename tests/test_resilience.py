"""Backoff, the circuit breaker, provider gates and limits: the runner's fault handling in isolation."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from promptvault.errors import ConfigurationError
from promptvault.resilience import (BASE_DELAY, BREAKER_THRESHOLD, MAX_DELAY, MAX_RETRY_AFTER, CircuitBreaker,
                                    Limits, ProviderGate, backoff_delay, provider_limits)


def test_backoff_grows_exponentially_with_jitter_and_a_ceiling():
    rng = random.Random(1)
    for attempt in range(1, 12):
        ceiling = min(MAX_DELAY, BASE_DELAY * 2 ** (attempt - 1))
        delays = [backoff_delay(attempt, rng=rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered


def test_backoff_never_waits_less_than_retry_after_but_caps_it():
    assert backoff_delay(1, retry_after=7.5) == 7.5
    assert backoff_delay(1, retry_after=10_000) == MAX_RETRY_AFTER


def test_breaker_opens_after_consecutive_down_failures_only():
    breaker = CircuitBreaker(threshold=3, cooldown=60)
    for _ in range(2):
        breaker.record_failure("server", "500")
    breaker.record_failure("rate_limit", "slow down")  # the provider answers: not down, and it resets the count
    breaker.record_failure("server", "500")
    assert breaker.allow() and not breaker.is_open
    for _ in range(2):
        breaker.record_failure("timeout", "no answer")
    assert breaker.is_open and not breaker.allow()
    assert breaker.last_error == "timeout: no answer"


def test_breaker_lets_one_probe_through_after_the_cooldown():
    breaker = CircuitBreaker(threshold=1, cooldown=0.05)
    breaker.record_failure("connection", "refused")
    assert not breaker.allow()
    time.sleep(0.06)
    assert breaker.allow() and not breaker.allow()  # one probe at a time
    breaker.record_failure("connection", "refused")  # the probe failed: open again at once
    assert breaker.is_open and not breaker.allow()
    time.sleep(0.06)
    assert breaker.allow()
    breaker.record_success()
    assert not breaker.is_open and breaker.allow() and breaker.allow()


def test_auth_failures_count_as_down():
    breaker = CircuitBreaker()
    for _ in range(BREAKER_THRESHOLD):
        breaker.record_failure("auth", "401")
    assert breaker.is_open


def test_a_gate_pause_holds_every_caller():
    async def scenario():
        gate = ProviderGate(asyncio.Semaphore(2))
        gate.pause(0.2)
        started = time.monotonic()
        await asyncio.gather(gate.wait_turn(), gate.wait_turn())
        return time.monotonic() - started

    assert asyncio.run(scenario()) >= 0.19


def test_limits_cap_each_provider_at_the_run_concurrency():
    async def scenario():
        limits = Limits(8, {"anthropic": 2, "openai": 50})
        return limits.gate("anthropic").limit._value, limits.gate("openai").limit._value, limits.gate("x").limit._value

    assert asyncio.run(scenario()) == (2, 8, 8)


def test_provider_limits_parse_and_refuse_nonsense():
    assert provider_limits({"PROMPTVAULT_PROVIDER_CONCURRENCY": "anthropic=10, openai=50"}) == {"anthropic": 10, "openai": 50}
    assert provider_limits({}) == {}
    for bad in ("anthropic", "openai=0", "=3", "openai=x"):
        with pytest.raises(ConfigurationError, match="PROMPTVAULT_PROVIDER_CONCURRENCY"):
            provider_limits({"PROMPTVAULT_PROVIDER_CONCURRENCY": bad})
