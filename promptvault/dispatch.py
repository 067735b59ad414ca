"""Calling models the way a run does: stored keys opened once and audited, a global cap and per-provider gates,
retries with backoff (never sooner than Retry-After), a circuit breaker per provider and key, and the cache.

The runner calls the run's cells through a `Dispatcher`; scoring calls its judges through another, so a judge
call has the same retries, limits, cache, cost accounting and audit as any cell.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from promptvault import providers, response_cache, vault
from promptvault.context import Context
from promptvault.errors import NotFoundError, ValidationError
from promptvault.resilience import (MAX_ATTEMPTS, MAX_RETRY_AFTER, PAUSE_PROVIDER_AFTER, CircuitBreaker, Limits,
                                    backoff_delay, provider_limits)
from promptvault.run_spec import ModelSpec

KEYED_PROVIDERS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY",
                   "openrouter": "OPENROUTER_API_KEY", "gemini": "GEMINI_API_KEY"}
Messages = list[dict[str, str]]


class Counters(Protocol):
    """What a dispatcher counts on its caller's stats: requests sent and calls waiting out a backoff."""

    calls: int
    retrying: int


@dataclass
class CallCounters:
    """Counters for a caller without its own stats object."""

    calls: int = 0
    retrying: int = 0


@dataclass(frozen=True)
class Route:
    """How one model is called: its provider, base URL and key id (vault)."""

    model: ModelSpec
    provider: str
    api_base: str | None
    key_id: int | None


@dataclass(frozen=True)
class Outcome:
    """How a call ended: answered, served from the cache, or failed after its attempts."""

    attempts: int
    completion: providers.Completion | None = None
    cached: response_cache.CachedAnswer | None = None
    error: providers.ProviderCallError | None = None


def route(ctx: Context, team_id: int, model: ModelSpec) -> Route:
    """Where a model's calls go and with which stored key (None: no key, or the provider's env variable)."""
    provider = providers.provider_of(model.model, model.api_base)
    if model.key is not None:
        key = vault.find_key(ctx, team_id, model.key)
        api_base = model.api_base or key.api_base
        return Route(model, providers.provider_of(model.model, api_base), api_base, key.id)
    if provider in ("offline", "custom"):
        return Route(model, provider, model.api_base, None)
    try:
        key_id = vault.resolve_key(ctx, team_id, provider)
    except (NotFoundError, ValidationError):
        variable = KEYED_PROVIDERS.get(provider)
        if variable and not os.environ.get(variable):
            raise ValidationError(f"no '{provider}' key for {model.model}: add one with `promptvault keys add "
                                  f"{provider}` or on the Keys page (or set {variable})") from None
        key_id = None  # litellm reads the provider's environment variable, or the provider needs none
    return Route(model, provider, model.api_base, key_id)


def outcome_row(outcome: Outcome, found: Route, started_at: datetime, rendered_input: str, **fields) -> dict:
    """The history row of a call's final outcome; `fields` name the run, cell, prompt, team and user."""
    finished = datetime.now(timezone.utc)
    row = {**fields, "model": found.model.label, "provider": found.provider, "rendered_input": rendered_input,
           "attempts": outcome.attempts, "cache_hit": outcome.cached is not None, "started_at": started_at,
           "finished_at": finished, "cost_usd": 0.0}
    answer = outcome.completion or outcome.cached
    if answer is not None:
        row.update(output=answer.output, finish_reason=answer.finish_reason, input_tokens=answer.input_tokens,
                   output_tokens=answer.output_tokens)
    if outcome.completion is not None:
        c = outcome.completion
        row.update(latency_ms=c.latency_ms, ttft_ms=c.ttft_ms, cost_usd=c.cost_usd)
    else:  # a cache hit or an error: the time it took us
        row["latency_ms"] = (finished - started_at).total_seconds() * 1000
    if outcome.error is not None:
        row.update(error=outcome.error.message, error_kind=outcome.error.kind)
    return row


@dataclass
class Dispatcher:
    """One caller's limits, breakers, open keys and pending cache writes (create it inside the event loop)."""

    ctx: Context
    team_id: int
    concurrency: int
    timeout: float
    prices: dict[str, tuple[float, float]]
    counters: Counters = field(default_factory=CallCounters)
    routes: dict[str, Route] = field(default_factory=dict)
    keys: dict[int, str] = field(default_factory=dict)
    to_cache: list[response_cache.CachedAnswer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.limits = Limits(self.concurrency, provider_limits())
        self.slots = asyncio.Semaphore(self.concurrency)
        self.breakers: dict[tuple, CircuitBreaker] = {}

    def open_keys(self, stack: contextlib.ExitStack, models: list[ModelSpec], purpose: str) -> None:
        """Route every model and decrypt each stored key once (each decryption audited); blocking: run in a thread."""
        for model in models:
            found = route(self.ctx, self.team_id, model)
            self.routes[model.label] = found
            if found.key_id is not None and found.key_id not in self.keys:
                self.keys[found.key_id] = stack.enter_context(vault.use_key(self.ctx, found.key_id, purpose))

    def release_keys(self) -> None:
        """Drop the provider clients that hold the opened keys."""
        for secret in self.keys.values():
            providers.release_key(secret)

    def cache_key(self, model: ModelSpec, messages: Messages, params: dict[str, Any]) -> str | None:
        """The cache key of a call, or None for a model that is never cached (the offline echo)."""
        if self.routes[model.label].provider == "offline":
            return None
        return response_cache.cache_key(self.team_id, model.label, messages, params)

    async def call(self, model: ModelSpec, messages: Messages, params: dict[str, Any], use_cache: bool = False,
                   on_text: providers.TextCallback | None = None) -> Outcome:
        """One call to its final outcome: from the cache, answered, or failed after retries; with `on_text`,
        streamed (it gets the current attempt's answer so far)."""
        cache_key = self.cache_key(model, messages, params) if use_cache else None
        if cache_key is not None:
            hit = await asyncio.to_thread(response_cache.lookup, self.ctx.db, cache_key)
            if hit is not None:
                return Outcome(0, cached=hit)
        outcome = await self._attempt(self.routes[model.label], messages, params, on_text)
        if cache_key is not None and outcome.completion is not None:
            c = outcome.completion
            self.to_cache.append(response_cache.CachedAnswer(
                cache_key, model.label, c.output, c.finish_reason, c.input_tokens, c.output_tokens))
        return outcome

    def take_cache_writes(self) -> list[response_cache.CachedAnswer]:
        """The answers to cache since the last take."""
        answers, self.to_cache = self.to_cache, []
        return answers

    async def _attempt(self, found: Route, messages: Messages, params: dict[str, Any],
                       on_text: providers.TextCallback | None) -> Outcome:
        """Call until an answer, a final error, or an open breaker."""
        breaker = self.breakers.setdefault((found.provider, found.key_id, found.api_base), CircuitBreaker())
        gate = self.limits.gate(found.provider)
        attempts = 0
        while True:
            if not breaker.allow():
                error = providers.ProviderCallError(
                    "circuit_open", f"not called: {found.provider} failed repeatedly ({breaker.last_error})")
                return Outcome(attempts, error=error)
            attempts += 1
            await gate.wait_turn()
            try:
                async with self.slots, gate.limit:
                    self.counters.calls += 1
                    completion = await providers.complete(
                        found.model.model, messages, params, api_key=self.keys.get(found.key_id),
                        api_base=found.api_base, timeout=self.timeout, prices=self.prices,
                        stream=on_text is not None and found.provider != "offline", on_text=on_text)
            except providers.ProviderCallError as error:
                breaker.record_failure(error.kind, error.message)
                if error.kind == "rate_limit" and (error.retry_after or 0) >= PAUSE_PROVIDER_AFTER:
                    gate.pause(error.retry_after)
                if not error.retryable or attempts >= MAX_ATTEMPTS or (error.retry_after or 0) > MAX_RETRY_AFTER:
                    return Outcome(attempts, error=error)
                await self._back_off(attempts, error.retry_after)
                continue
            breaker.record_success()
            return Outcome(attempts, completion=completion)

    async def _back_off(self, attempts: int, retry_after: float | None) -> None:
        """Wait before the next attempt, counted as retrying."""
        self.counters.retrying += 1
        try:
            await asyncio.sleep(backoff_delay(attempts, retry_after))
        finally:
            self.counters.retrying -= 1
