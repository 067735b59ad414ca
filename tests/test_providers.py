"""The provider adapter, over real HTTP to the loopback fake provider (no mocks of litellm)."""

from __future__ import annotations

import asyncio
import hashlib
import pickle
import socket
import subprocess
import sys
import time

import pytest

from promptvault import providers
from promptvault.providers import OFFLINE_MODEL, ProviderCallError, complete, count_tokens, price_per_token
from promptvault.testing.fake_provider import FakeConfig, FakeProvider

CANARY = "sk-canary-7f3a9c1e5b2d4f6a8c0e"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello to the tests"}]
PRICES = {"gpt-x": (1e-6, 2e-6)}


@pytest.fixture(scope="module")
def server():
    with FakeProvider(FakeConfig(hold=30.0)) as fake:
        yield fake


@pytest.fixture
def fake(server):
    server.configure(expected_api_key=None, retry_after=1.0, latency=0.0)
    server.reset()
    return server


def call(fake, model="gpt-x", **kwargs):
    """Run one `complete` against the fake and return its Completion."""
    kwargs = {"api_key": CANARY, "api_base": fake.base_url, "timeout": 5.0, **kwargs}
    return asyncio.run(complete(model, kwargs.pop("messages", MESSAGES), kwargs.pop("params", {}), **kwargs))


def call_error(fake, model="gpt-x", **kwargs) -> ProviderCallError:
    """Run one `complete` that must fail and return its error."""
    with pytest.raises(ProviderCallError) as info:
        call(fake, model, **kwargs)
    return info.value


def clients_holding(key: str) -> list[str]:
    """Names of litellm's cached clients that hold the key."""
    cache = providers._litellm().in_memory_llm_clients_cache
    return [name for name, client in cache.cache_dict.items()
            if key in str(name) or getattr(client, "api_key", None) == key]


def test_complete_happy_path_returns_output_usage_cost_and_latency(fake):
    result = call(fake, params={"extra_headers": {"X-Fake-Options": "latency=0.1"}}, prices=PRICES)
    assert result.output == "gpt-x: Say hello to the tests"
    assert result.finish_reason == "stop"
    assert (result.input_tokens, result.output_tokens) == (3 + 6, 8)
    assert result.cost_usd == pytest.approx(9 * 1e-6 + 8 * 2e-6)
    assert 100 <= result.latency_ms < 2000 and result.ttft_ms is None
    assert result.model == "gpt-x" and not result.usage_estimated
    assert fake.calls("gpt-x") == 1
    assert fake.requests[0].key_sha256 is not None and fake.requests[0].stream is False


def test_complete_passes_params_through(fake):
    result = call(fake, params={"temperature": 0.2, "max_tokens": 2})
    assert result.finish_reason == "length" and result.output == "gpt-x: S"
    assert fake.requests[0].params["temperature"] == 0.2


def test_complete_unknown_model_costs_nothing(fake):
    assert call(fake).cost_usd == 0.0


def test_complete_streaming_collects_content_usage_and_ttft(fake):
    result = call(fake, params={"extra_headers": {"X-Fake-Options": "latency=0.2"}}, stream=True, prices=PRICES)
    assert result.output == "gpt-x: Say hello to the tests"
    assert (result.input_tokens, result.output_tokens, result.usage_estimated) == (9, 8, False)
    assert result.cost_usd == pytest.approx(9 * 1e-6 + 8 * 2e-6)
    assert result.finish_reason == "stop"
    assert 200 <= result.ttft_ms <= result.latency_ms
    assert fake.requests[0].stream and fake.requests[0].params["stream_options"] == {"include_usage": True}
    assert fake.calls() == 1


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("outcome, kind, status, retryable", [
    ("429", "rate_limit", 429, True),
    ("500", "server", 500, True),
    ("503", "server", 503, True),
    ("400", "bad_request", 400, False),
    ("404", "bad_request", 404, False),
    ("422", "bad_request", 422, False),
    ("403", "auth", 403, False),
    ("broken_json", "broken_response", None, True),
])
def test_complete_classifies_provider_errors(fake, outcome, kind, status, retryable, stream):
    error = call_error(fake, f"gpt-x@outcome={outcome}", stream=stream)
    assert (error.kind, error.status, error.retryable) == (kind, status, retryable)
    assert fake.calls() == 1  # litellm retried nothing
    assert error.__context__ is None and error.__cause__ is None  # litellm's exception is not chained


@pytest.mark.parametrize("stream", [False, True])
def test_complete_rate_limit_carries_retry_after(fake, stream):
    error = call_error(fake, "gpt-x@outcome=429,retry_after=2.5", stream=stream)
    assert error.kind == "rate_limit" and error.retry_after == pytest.approx(2.5)
    assert fake.calls() == 1


@pytest.mark.parametrize("outcome, stream", [("timeout", False), ("timeout", True), ("hang", True)])
def test_complete_times_out_within_the_timeout(fake, outcome, stream):
    started = time.monotonic()
    error = call_error(fake, f"gpt-x@outcome={outcome}", stream=stream, timeout=0.4)
    assert error.kind == "timeout" and error.retryable and error.status is None
    assert time.monotonic() - started < 2.0
    assert fake.calls() == 1


def test_complete_wrong_key_is_auth_and_never_echoed(fake):
    fake.configure(expected_api_key="the-right-key-000000")
    error = call_error(fake)
    assert (error.kind, error.status, error.retryable) == ("auth", 401, False)
    assert CANARY not in str(error) and CANARY not in repr(error.args)
    assert fake.calls() == 1


def test_complete_connection_refused_is_connection(fake):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the call: nothing listens there
    error = call_error(fake, api_base=f"http://127.0.0.1:{port}/v1", timeout=3.0)
    assert (error.kind, error.status, error.retryable) == ("connection", None, True)


def test_complete_no_error_message_contains_the_key(fake):
    for outcome in ("429", "500", "400", "401", "broken_json"):
        error = call_error(fake, f"gpt-x@outcome={outcome}")
        assert CANARY not in str(error) and CANARY not in repr(vars(error))


def test_release_key_drops_litellm_clients_that_hold_the_key(fake):
    call(fake)
    assert clients_holding(CANARY)  # litellm keeps an SDK client per key, the key in its cache name, for its TTL
    assert providers.release_key(CANARY) >= 1
    assert not clients_holding(CANARY)
    assert call(fake).output  # a later call with the key builds a fresh client


def test_complete_custom_base_url_needs_no_key_and_never_gets_the_environment_key(fake, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    result = call(fake, api_key=None)
    assert result.output == "gpt-x: Say hello to the tests"
    assert fake.requests[0].key_sha256 != hashlib.sha256(CANARY.encode()).hexdigest()[:16]


def test_complete_missing_key_is_auth_not_retryable(fake, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    error = call_error(fake, "openai/gpt-4o-mini", api_key=None, api_base=None)
    assert (error.kind, error.retryable) == ("auth", False)
    assert fake.calls() == 0


def test_provider_call_error_survives_pickling():
    error = pickle.loads(pickle.dumps(ProviderCallError("rate_limit", "slow down", 2.0, 429)))
    assert (error.kind, error.message, error.retry_after, error.status, error.retryable) == (
        "rate_limit", "slow down", 2.0, 429, True)


def test_complete_refuses_reserved_params_without_calling(fake):
    error = call_error(fake, params={"api_base": "http://evil.example/v1", "mock_response": "x"})
    assert error.kind == "bad_request" and "api_base" in error.message
    assert fake.calls() == 0


@pytest.mark.parametrize("text", [
    f"header Authorization: Bearer {CANARY}",
    f"{{'api_key': '{CANARY}'}}",
    f"x-api-key={CANARY} rejected",
    f"key {CANARY} is wrong",
])
def test_scrub_removes_keys_and_credentials(text):
    assert CANARY not in providers.scrub(text, CANARY)
    assert CANARY not in providers.scrub(text)  # shape-based too: a key we were not told about


@pytest.mark.parametrize("headers, seconds", [
    ({"retry-after": "3"}, 3.0),
    ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
    ({"llm_provider-retry-after": "4"}, 4.0),
    ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
    ({"retry-after": "soon"}, None),
    ({}, None),
])
def test_retry_after_parses_header_forms(headers, seconds):
    assert providers._retry_after(headers) == seconds


def test_offline_echo_makes_no_network_call_and_is_free(monkeypatch):
    def refuse(self, address):
        raise AssertionError(f"network call to {address}")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    first = asyncio.run(complete(OFFLINE_MODEL, MESSAGES, {}, timeout=1.0))
    second = asyncio.run(complete(OFFLINE_MODEL, MESSAGES, {}, timeout=1.0, stream=True))
    assert first.output == second.output == providers.OFFLINE_PREFIX + "Say hello to the tests"
    assert "offline" in first.output and "not a real model" in first.output
    assert first.cost_usd == 0.0 and first.input_tokens == 9 and first.output_tokens > 0
    assert (first.input_tokens, first.output_tokens) == (second.input_tokens, second.output_tokens)


def test_offline_echo_honours_max_tokens():
    result = asyncio.run(complete(OFFLINE_MODEL, MESSAGES, {"max_tokens": 3}, timeout=1.0))
    assert result.finish_reason == "length" and len(result.output) == 12


@pytest.mark.parametrize("model, api_base, provider", [
    (OFFLINE_MODEL, None, "offline"),
    ("openai/gpt-4o-mini", None, "openai"),
    ("gpt-4o-mini", None, "openai"),
    ("anthropic/claude-3-5-haiku-latest", None, "anthropic"),
    ("claude-3-5-haiku-latest", None, "anthropic"),
    ("openrouter/meta-llama/llama-3-8b", None, "openrouter"),
    ("ollama/llama3", None, "ollama"),
    ("ollama/llama3", "http://127.0.0.1:11434", "ollama"),
    ("gemini/gemini-1.5-flash", None, "gemini"),
    ("my-model", "http://127.0.0.1:8000/v1", "custom"),
    ("openai/my-model", "http://127.0.0.1:8000/v1", "custom"),
    ("mistral/mistral-small", None, "mistral"),
    ("mystery", None, "unknown"),
])
def test_provider_of(model, api_base, provider):
    assert providers.provider_of(model, api_base) == provider


def test_price_per_token_from_local_map_and_overrides():
    price_in, price_out = price_per_token("gpt-4o-mini")
    assert 0 < price_in < price_out
    assert price_per_token("openai/gpt-4o-mini") == (price_in, price_out)
    assert price_per_token("gpt-4o-mini", {"gpt-4o-mini": (1, 2)}) == (1.0, 2.0)
    assert price_per_token("no-such-model") is None
    assert price_per_token(OFFLINE_MODEL) == (0.0, 0.0)


def test_count_tokens_uses_litellm_for_known_models_and_estimates_otherwise():
    import litellm

    assert count_tokens("gpt-4o-mini", MESSAGES) == litellm.token_counter(model="gpt-4o-mini", messages=MESSAGES)
    assert count_tokens("no-such-model", MESSAGES) == 3 + 6  # ceil(chars / 4) per message, as the fake counts
    assert count_tokens(OFFLINE_MODEL, MESSAGES) == 9


def test_litellm_is_set_up_offline_and_quiet():
    import os

    litellm = providers._litellm()
    assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    assert litellm.telemetry is False and litellm.suppress_debug_info is True
    assert not litellm.success_callback and not litellm.failure_callback and not litellm.callbacks


def test_importing_the_cli_or_running_offline_does_not_import_litellm():
    code = ("import asyncio, sys, promptvault, promptvault.cli\n"
            "from promptvault.providers import OFFLINE_MODEL, complete, count_tokens, price_per_token\n"
            "asyncio.run(complete(OFFLINE_MODEL, [{'role': 'user', 'content': 'hi'}], {}, timeout=1.0))\n"
            "count_tokens(OFFLINE_MODEL, [{'role': 'user', 'content': 'hi'}]), price_per_token(OFFLINE_MODEL)\n"
            "assert 'litellm' not in sys.modules, 'litellm imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
