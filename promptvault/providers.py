"""The provider adapter: one model call through litellm (the only module that imports it), typed errors, prices.

litellm is imported on first use (it takes seconds), with its local price map, no telemetry, no callbacks, no
retries of its own (the runner retries) and no logging. Keys arrive as `api_key=` for one call and are never
stored, logged or echoed: error messages are scrubbed of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import json
import logging
import math
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from promptvault.errors import PromptVaultError

OFFLINE_MODEL = "offline/echo"
NO_KEY = "no-key"  # sent to a custom base URL when no key is given
OFFLINE_PREFIX = "[offline echo, not a real model] "
KINDS = ("rate_limit", "server", "timeout", "auth", "bad_request", "broken_response", "connection")
RETRYABLE_KINDS = frozenset({"rate_limit", "server", "timeout", "connection", "broken_response"})
_NAMED_PROVIDERS = {"openai": "openai", "anthropic": "anthropic", "openrouter": "openrouter", "ollama": "ollama",
                    "ollama_chat": "ollama", "gemini": "gemini"}
_BARE_NAME_PROVIDERS = (("gpt-", "openai"), ("chatgpt", "openai"), ("o1", "openai"), ("o3", "openai"),
                        ("o4", "openai"), ("ft:gpt", "openai"), ("claude", "anthropic"), ("gemini", "gemini"))
# Keys a run's params may not set: they belong to this adapter (routing, secrets, retries, short-circuits).
RESERVED_PARAMS = frozenset({"model", "messages", "api_key", "api_base", "base_url", "timeout", "stream",
                              "stream_options", "num_retries", "max_retries", "mock_response", "callbacks",
                              "logger_fn", "metadata", "litellm_logging_obj",
                              "input_cost_per_token", "output_cost_per_token"})
_STATUS_KINDS = {429: "rate_limit", 401: "auth", 403: "auth", 408: "timeout"}
# Causes by class name (httpx, aiohttp, openai, litellm), so that classifying needs none of them imported here.
_TIMEOUT_ERRORS = frozenset({"Timeout", "APITimeoutError", "ReadTimeout", "ConnectTimeout", "WriteTimeout",
                             "PoolTimeout"})
_CONNECTION_ERRORS = frozenset({"ConnectError", "RemoteProtocolError", "ReadError", "ClientConnectorError",
                                "ServerDisconnectedError", "ClientOSError"})
_LITELLM_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm")
_LITELLM_CALLBACK_LISTS = ("callbacks", "success_callback", "failure_callback", "_async_success_callback",
                           "_async_failure_callback", "input_callback", "service_callback")
_MAX_MESSAGE = 500
TextCallback = Callable[[str], None]  # receives a streamed answer so far
_LITELLM_NOISE = re.compile(r"^(?:litellm\.\w+: )?(?:\w+Error: )?(?:\w+Exception - )?")


class ProviderCallError(PromptVaultError):
    """A model call failed; `kind` says how, `retryable` whether another attempt may help."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None, status: int | None = None):
        super().__init__(message)
        self.kind, self.message, self.retry_after, self.status = kind, message, retry_after, status

    def __reduce__(self):
        return type(self), (self.kind, self.message, self.retry_after, self.status)  # survives pickling (workers)

    @property
    def retryable(self) -> bool:
        """True for rate limits, server errors, timeouts, connection failures and broken responses."""
        return self.kind in RETRYABLE_KINDS


@dataclass(frozen=True)
class Completion:
    """The outcome of one successful call; times in milliseconds, ttft only for streams."""

    output: str
    finish_reason: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_ms: float
    ttft_ms: float | None
    model: str
    usage_estimated: bool = False


@functools.cache
def _litellm():
    """Import and quiet litellm once: local price map, no telemetry, callbacks, debug output or logs."""
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # before the import: no network for the price map
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    litellm.set_verbose = False
    litellm.num_retries = 0
    for name in _LITELLM_CALLBACK_LISTS:
        if isinstance(getattr(litellm, name, None), list):
            setattr(litellm, name, [])
    for name in _LITELLM_LOGGERS:  # its logs can carry request details; our errors carry what matters
        logging.getLogger(name).setLevel(logging.CRITICAL)
    _skip_litellm_pricing()
    return litellm


def warm_up() -> None:
    """Import litellm now (seconds), so that the first call a user waits for does not pay for it."""
    _litellm()


def _skip_litellm_pricing() -> None:
    """Turn off litellm's own per-call pricing, which we never read (we price from the usage, see `_cost`).

    Measured on this machine it is about half of litellm's CPU per call (a search of its price map, several
    model-info builds and a zero-cost diagnostic for every answer). It is a private hook: a litellm
    without it keeps pricing and is only slower.
    """
    try:
        from litellm.litellm_core_utils.litellm_logging import Logging
    except ImportError:
        return
    if hasattr(Logging, "response_cost_calculator"):
        Logging.response_cost_calculator = lambda self, *args, **kwargs: None


@functools.cache
def _no_logging_scope():
    """litellm's marker for calls whose success it should not log or bill (no callbacks of ours listen)."""
    try:
        from litellm._internal_context import internal_sub_call
    except ImportError:
        return contextlib.nullcontext
    return internal_sub_call


def is_offline(model: str) -> bool:
    """True for the offline echo model, which calls no network and costs nothing."""
    return model == OFFLINE_MODEL


def provider_of(model: str, api_base: str | None = None) -> str:
    """The provider a model name (and optional OpenAI-compatible base URL) goes to."""
    if is_offline(model):
        return "offline"
    prefix, sep, _ = model.partition("/")
    if sep and prefix in _NAMED_PROVIDERS and not (api_base and prefix == "openai"):
        return _NAMED_PROVIDERS[prefix]
    if api_base:
        return "custom"
    if sep:
        return prefix  # any other litellm provider prefix (mistral, vertex_ai, ...)
    return next((p for start, p in _BARE_NAME_PROVIDERS if model.startswith(start)), "unknown")


def _litellm_model(model: str, api_base: str | None) -> str:
    """The model name litellm needs: `openai/<name>` for a custom OpenAI-compatible base URL."""
    if provider_of(model, api_base) == "custom" and not model.startswith("openai/"):
        return f"openai/{model}"
    return model


@functools.cache
def _model_info(model: str) -> dict | None:
    """litellm's local price-map entry for a model, with or without its provider prefix; looked up once."""
    cost_map = _litellm().model_cost
    return cost_map.get(model) or cost_map.get(model.partition("/")[2] or model)


def price_per_token(model: str, overrides: dict | None = None) -> tuple[float, float] | None:
    """USD per (input, output) token: an override `{model: (in, out)}` wins, else litellm's local map."""
    if overrides and model in overrides:
        price_in, price_out = overrides[model]
        return float(price_in), float(price_out)
    if is_offline(model):
        return 0.0, 0.0
    info = _model_info(model)
    if not info or info.get("input_cost_per_token") is None:
        return None
    return float(info["input_cost_per_token"]), float(info.get("output_cost_per_token") or 0.0)


def _text(content) -> str:
    """The text of a message content: a string, or the text parts of a list."""
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def estimate_tokens(text: str) -> int:
    """A local token estimate: ceil(chars / 4)."""
    return math.ceil(len(text) / 4)


def count_tokens(model: str, messages: list[dict]) -> int:
    """Prompt tokens: litellm's counter for models in its price map, else a local chars/4 estimate."""
    if not is_offline(model) and _model_info(model) is not None:
        return int(_litellm().token_counter(model=model, messages=messages))
    return sum(estimate_tokens(_text(m.get("content"))) for m in messages)


def _cost(model: str, input_tokens: int, output_tokens: int, prices: dict | None) -> float:
    """The call's cost from its usage and the model's price (0 when the price is unknown)."""
    price = price_per_token(model, prices)
    return 0.0 if price is None else input_tokens * price[0] + output_tokens * price[1]


def _echo(model: str, messages: list[dict], params: dict, started: float) -> Completion:
    """The offline model's deterministic answer: the last user message, labelled, counted locally."""
    last_user = next((_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    output, finish = OFFLINE_PREFIX + last_user, "stop"
    limit = params.get("max_tokens") or params.get("max_completion_tokens")
    if isinstance(limit, int) and 0 < limit < estimate_tokens(output):
        output, finish = output[: limit * 4], "length"
    latency = (time.perf_counter() - started) * 1000
    return Completion(output, finish, count_tokens(model, messages), estimate_tokens(output), 0.0, latency, None,
                      model)


async def complete(model: str, messages: list[dict], params: dict, *, api_key: str | None = None,
                   api_base: str | None = None, timeout: float, stream: bool = False,
                   prices: dict | None = None, on_text: TextCallback | None = None) -> Completion:
    """One model call, no retries, within `timeout` seconds in all; raises ProviderCallError on failure.
    With `stream`, `on_text` gets the answer so far as each piece arrives."""
    if is_offline(model):
        return _echo(model, messages, params, time.perf_counter())
    reserved = sorted(RESERVED_PARAMS & set(params))
    if reserved:
        raise ProviderCallError("bad_request", f"params may not set {', '.join(reserved)}")
    _litellm()  # the first call's import is not the provider's latency
    started = time.perf_counter()
    try:
        return await _call(model, messages, params, api_key, api_base, timeout, stream, prices, started, on_text)
    except TimeoutError:
        failure = ProviderCallError("timeout", f"no complete answer within {timeout:g} s")
    except Exception as exc:  # noqa: BLE001 - every failure becomes one typed, scrubbed error
        failure = classify(exc, api_key)
    raise failure  # outside the except block: the original (maybe key-echoing) exception is not chained


async def _call(model, messages, params, api_key, api_base, timeout, stream, prices, started, on_text) -> Completion:
    """Send the request through litellm and read the answer (the whole stream when streaming)."""
    litellm = _litellm()
    extra = {"stream_options": {"include_usage": True}} if stream else {}
    if api_key is None and provider_of(model, api_base) == "custom":
        api_key = NO_KEY  # else the openai SDK would send OPENAI_API_KEY from the environment to that URL
    async with asyncio.timeout(timeout):  # a total deadline: litellm's timeout is per read, streams can drip
        with _no_logging_scope()():
            response = await litellm.acompletion(
                model=_litellm_model(model, api_base), messages=messages, api_key=api_key, api_base=api_base,
                timeout=timeout, num_retries=0, max_retries=0, stream=stream, **extra, **params)
        if stream:
            return await _read_stream(model, messages, response, prices, started, on_text)
    return _from_response(model, messages, response, prices, started)


def release_key(api_key: str) -> int:
    """Drop litellm's cached clients that hold this key (they live ~10 min otherwise); returns how many."""
    if "litellm" not in sys.modules or not api_key:
        return 0
    cache = _litellm().in_memory_llm_clients_cache
    names = [name for name, client in list(cache.cache_dict.items())
             if api_key in str(name) or getattr(client, "api_key", None) == api_key]
    for name in names:
        cache.delete_cache(name)
    return len(names)


def _usage(model: str, messages: list[dict], output: str, usage) -> tuple[int, int, bool]:
    """Input and output tokens from the provider's usage, or local estimates (flagged) when it sent none."""
    if usage is not None and getattr(usage, "prompt_tokens", None) is not None:
        return int(usage.prompt_tokens or 0), int(usage.completion_tokens or 0), False
    return count_tokens(model, messages), estimate_tokens(output), True


def _from_response(model: str, messages: list[dict], response, prices: dict | None, started: float) -> Completion:
    """A Completion from a non-streamed litellm ModelResponse."""
    latency = (time.perf_counter() - started) * 1000
    if not response.choices:
        raise ProviderCallError("broken_response", "the provider answered with no choices")
    choice = response.choices[0]
    output = choice.message.content or ""
    tokens_in, tokens_out, estimated = _usage(model, messages, output, getattr(response, "usage", None))
    return Completion(output, choice.finish_reason, tokens_in, tokens_out,
                      _cost(model, tokens_in, tokens_out, prices), latency, None, response.model or model, estimated)


async def _read_stream(model: str, messages: list[dict], stream, prices: dict | None, started: float,
                       on_text: TextCallback | None = None) -> Completion:
    """Consume a litellm stream: collect content, note the first content chunk, take usage from the last."""
    parts, first, finish, usage, answered_by = [], None, None, None, model
    async for chunk in stream:
        answered_by = getattr(chunk, "model", None) or answered_by
        usage = getattr(chunk, "usage", None) or usage
        for choice in chunk.choices or ():
            if choice.delta is not None and choice.delta.content:
                first = first or time.perf_counter()
                parts.append(choice.delta.content)
                if on_text is not None:
                    on_text("".join(parts))
            finish = choice.finish_reason or finish
    latency = (time.perf_counter() - started) * 1000
    output = "".join(parts)
    tokens_in, tokens_out, estimated = _usage(model, messages, output, usage)
    ttft = None if first is None else (first - started) * 1000
    return Completion(output, finish, tokens_in, tokens_out, _cost(model, tokens_in, tokens_out, prices), latency,
                      ttft, answered_by, estimated)


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and its causes/contexts, outermost first."""
    seen: list[BaseException] = []
    while exc is not None and not any(exc is s for s in seen):
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def _kind_from_chain(chain: list[BaseException]) -> str | None:
    """auth, broken_response, timeout or connection when a cause says so, whatever status litellm put on it."""
    names = {type(e).__name__ for e in chain}
    if any(_is_missing_key(e) for e in chain):
        return "auth"
    if any(isinstance(e, (json.JSONDecodeError, UnicodeDecodeError)) for e in chain):
        return "broken_response"
    if any(isinstance(e, TimeoutError) for e in chain) or names & _TIMEOUT_ERRORS:
        return "timeout"
    if any(isinstance(e, ConnectionError) for e in chain) or names & _CONNECTION_ERRORS:
        return "connection"
    return None


def _is_missing_key(exc: BaseException) -> bool:
    """The openai SDK's client-side refusal to send a request without credentials (litellm calls it a 500)."""
    kind = type(exc)
    return kind.__module__ == "openai" and kind.__name__ == "OpenAIError" and "credentials" in str(exc).lower()


def _kind_from_status(status: int | None) -> str:
    """The kind an HTTP status means (no status: litellm's own failure, treated as a server error)."""
    if status in _STATUS_KINDS:
        return _STATUS_KINDS[status]
    return "bad_request" if status is not None and 400 <= status < 500 else "server"


def classify(exc: BaseException, api_key: str | None = None) -> ProviderCallError:
    """Turn any exception from a call into a ProviderCallError whose message holds no key."""
    if isinstance(exc, ProviderCallError):
        return exc
    chain = _chain(exc)
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    kind = _kind_from_chain(chain) or _kind_from_status(status)
    if kind in ("timeout", "connection", "broken_response"):
        status = None  # litellm labels these 408/500 itself; no such answer came from the provider
    retry_after = _retry_after(_headers(exc)) if kind in ("rate_limit", "server") else None
    message = scrub(_LITELLM_NOISE.sub("", str(exc)) or type(exc).__name__, api_key)
    return ProviderCallError(kind, message, retry_after, status)


def _headers(exc: BaseException) -> dict[str, str]:
    """The provider's response headers litellm kept on an exception, lower-cased; empty when none."""
    raw = getattr(exc, "litellm_response_headers", None)
    if raw is None:
        raw = getattr(getattr(exc, "response", None), "headers", None)
    try:
        return {str(k).lower(): str(v) for k, v in dict(raw or {}).items()}
    except (TypeError, ValueError):
        return {}


def _retry_after(headers: dict[str, str]) -> float | None:
    """Seconds to wait from retry-after-ms or Retry-After (seconds or an HTTP date), litellm-prefixed or not."""
    for name, scale in (("retry-after-ms", 1000), ("retry-after", 1), ("llm_provider-retry-after-ms", 1000),
                        ("llm_provider-retry-after", 1)):
        if (value := headers.get(name)) is not None and (seconds := _seconds(value, scale)) is not None:
            return seconds
    return None


def _seconds(value: str, scale: float) -> float | None:
    """A header value as seconds from now: a number (divided by scale) or an HTTP date; None if neither."""
    try:
        return max(float(value) / scale, 0.0)
    except ValueError:
        pass
    try:
        return max(email.utils.parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


_SECRET_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[^\s'\",}]+"),
    re.compile(r"(?i)((?:api[_-]?key|x-api-key|authorization|x-goog-api-key)['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"),
    re.compile(r"\b(sk-[A-Za-z0-9_\-]{4})[A-Za-z0-9_\-]{8,}"),
)


def scrub(text: str, api_key: str | None = None) -> str:
    """The text without the key (and anything shaped like a credential), cut to a readable length."""
    if api_key:
        text = text.replace(api_key, "[redacted]")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1[redacted]", text)
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"
