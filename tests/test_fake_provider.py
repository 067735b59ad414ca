"""The loopback fake provider, driven over real HTTP with standard-library clients only."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from promptvault.testing import FakeConfig, FakeProvider

KEY = "sk-test-secret-key-7890"
HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there world"}]


@pytest.fixture
def fake():
    """A running fake provider with the default config."""
    with FakeProvider() as provider:
        yield provider


def call(fake, body, headers=None, timeout=5.0, path="/v1/chat/completions", raw=None):
    """POST a chat body; returns (status, headers, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=timeout)
    try:
        data = raw if raw is not None else json.dumps(body).encode()
        conn.request("POST", path, data, {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}",
                                          **(headers or {})})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def chat(model="gpt-x", messages=HELLO, **params):
    """A chat-completions request body."""
    return {"model": model, "messages": messages, **params}


def sse_events(data: bytes) -> list:
    """The data payloads of an SSE body: parsed JSON, or the string '[DONE]'."""
    payloads = [line[6:] for line in data.decode().split("\n") if line.startswith("data: ")]
    return [p if p == "[DONE]" else json.loads(p) for p in payloads]


def test_fake_provider_chat_echoes_last_user_message_with_usage(fake):
    status, headers, data = call(fake, chat(temperature=0))
    body = json.loads(data)
    assert status == 200 and int(headers["Content-Length"]) == len(data)
    assert body["object"] == "chat.completion" and body["model"] == "gpt-x" and body["id"].startswith("chatcmpl-")
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "gpt-x: hello there world"}
    assert body["choices"][0]["finish_reason"] == "stop" and isinstance(body["created"], int)
    # ceil(chars / 4): "Be brief." -> 3, "hello there world" -> 5; reply of 24 chars -> 6
    assert body["usage"] == {"prompt_tokens": 8, "completion_tokens": 6, "total_tokens": 14}


def test_fake_provider_chat_path_without_v1_prefix(fake):
    assert call(fake, chat(), path="/chat/completions")[0] == 200


def test_fake_provider_usage_sizes_and_reply_are_configurable(fake):
    fake.configure(prompt_tokens=1000, completion_tokens=250, reply="[{model}] {last_user}!")
    body = json.loads(call(fake, chat())[2])
    assert body["choices"][0]["message"]["content"] == "[gpt-x] hello there world!"
    assert body["usage"] == {"prompt_tokens": 1000, "completion_tokens": 250, "total_tokens": 1250}


def test_fake_provider_max_tokens_cuts_reply_with_finish_length(fake):
    body = json.loads(call(fake, chat(max_tokens=2))[2])
    assert body["choices"][0]["message"]["content"] == "gpt-x: h"
    assert body["choices"][0]["finish_reason"] == "length" and body["usage"]["completion_tokens"] == 2


def test_fake_provider_stream_sends_chunks_done_and_usage(fake):
    status, headers, data = call(fake, chat(stream=True, stream_options={"include_usage": True}))
    events = sse_events(data)
    assert status == 200 and headers["Content-Type"] == "text/event-stream"
    assert events[-1] == "[DONE]"
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-2])
    assert text == "gpt-x: hello there world" and len(events) > 5
    assert events[-3]["choices"][0]["finish_reason"] == "stop"
    assert events[-2]["choices"] == [] and events[-2]["usage"]["total_tokens"] == 14
    assert {e["id"] for e in events[:-1]} == {events[0]["id"]}


def test_fake_provider_stream_without_include_usage_has_no_usage_chunk(fake):
    events = sse_events(call(fake, chat(stream=True))[2])
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert not any("usage" in e for e in events[:-1])


@pytest.mark.parametrize("outcome", ["429", "500", "503", "401", "418"])
def test_fake_provider_error_outcome_status(fake, outcome):
    status, headers, data = call(fake, chat(model=f"gpt-x@outcome={outcome}"))
    assert status == int(outcome) and "message" in json.loads(data)["error"]
    assert ("Retry-After" in headers) == (outcome == "429")


def test_fake_provider_429_carries_retry_after(fake):
    fake.configure(retry_after=7)
    status, headers, _ = call(fake, chat(model="gpt-x@outcome=429"))
    assert status == 429 and headers["Retry-After"] == "7" and headers["retry-after-ms"] == "7000"
    _, headers, _ = call(fake, chat(model="gpt-x@outcome=429,retry_after=0.25"))
    assert headers["Retry-After"] == "0.25"


def test_fake_provider_broken_json_body(fake):
    status, headers, data = call(fake, chat(model="gpt-x@outcome=broken_json"))
    assert status == 200 and int(headers["Content-Length"]) == len(data)
    with pytest.raises(json.JSONDecodeError):
        json.loads(data)


def test_fake_provider_broken_json_stream_event(fake):
    data = call(fake, chat(model="gpt-x@outcome=broken_json", stream=True))[2]
    with pytest.raises(json.JSONDecodeError):
        sse_events(data)


def test_fake_provider_timeout_outlasts_client_timeout(fake):
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        call(fake, chat(model="gpt-x@outcome=timeout"), timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 2


def test_fake_provider_hung_stream_stalls_after_some_chunks(fake):
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=0.5)
    conn.request("POST", "/v1/chat/completions", json.dumps(chat(stream=True)), {"X-Fake-Options": "outcome=hang"})
    response = conn.getresponse()
    assert response.status == 200
    first = response.readline() + response.readline()
    assert json.loads(first.decode()[6:])["choices"][0]["delta"]["role"] == "assistant"
    with pytest.raises(TimeoutError):
        response.read()
    conn.close()


def test_fake_provider_script_decides_first_calls_per_model(fake):
    fake.configure(script={"gpt-x": ["429", "503"], "*": ["500"]})
    assert [call(fake, chat())[0] for _ in range(4)] == [429, 503, 200, 200]
    assert [call(fake, chat(model="other"))[0] for _ in range(2)] == [500, 200]
    assert fake.calls("gpt-x") == 4 and fake.calls("other") == 2 and fake.calls() == 6
    fake.reset()
    assert call(fake, chat())[0] == 429 and fake.calls() == 1


def test_fake_provider_fail_first_n_per_model(fake):
    fake.configure(fail_first_n=2, fail_with="500")
    assert [call(fake, chat())[0] for _ in range(3)] == [500, 500, 200]
    assert call(fake, chat(model="gpt-y"))[0] == 500


def test_fake_provider_error_mix_is_seeded():
    config = FakeConfig(errors={"429": 0.3, "500": 0.2}, seed=42)
    runs = []
    for _ in range(2):
        with FakeProvider(config) as provider:
            runs.append([call(provider, chat())[0] for _ in range(40)])
    assert runs[0] == runs[1]
    assert {429, 500, 200} == set(runs[0])


def test_fake_provider_wrong_key_is_401(fake):
    fake.configure(expected_api_key=KEY)
    assert call(fake, chat())[0] == 200
    status, _, data = call(fake, chat(), headers={"Authorization": "Bearer sk-wrong"})
    assert status == 401 and json.loads(data)["error"]["code"] == "invalid_api_key"
    assert call(fake, chat(), headers={"Authorization": ""})[0] == 401


@pytest.mark.parametrize("raw", [
    b"{not json",
    b"[1, 2]",
    b'{"messages": [{"role": "user", "content": "hi"}]}',
    b'{"model": "gpt-x", "messages": []}',
    b'{"model": "gpt-x", "messages": ["hi"]}',
    b'{"model": "gpt-x@typo=1", "messages": [{"role": "user", "content": "hi"}]}',
    b'{"model": "gpt-x@outcome=explode", "messages": [{"role": "user", "content": "hi"}]}',
    b"\xff\xfe",
])
def test_fake_provider_malformed_body_is_400(fake, raw):
    status, _, data = call(fake, None, raw=raw)
    assert status == 400 and json.loads(data)["error"]["type"] == "invalid_request_error"
    assert fake.requests[-1].outcome == "400"


def test_fake_provider_latency_honoured(fake):
    fake.configure(latency=0.3)
    started = time.monotonic()
    assert call(fake, chat())[0] == 200
    assert time.monotonic() - started >= 0.3


def test_fake_provider_latency_distribution_is_seeded_and_bounded():
    durations = []
    with FakeProvider(FakeConfig(latency=0.05, latency_max=0.15, seed=3)) as provider:
        for _ in range(5):
            started = time.monotonic()
            call(provider, chat())
            durations.append(time.monotonic() - started)
    assert all(0.05 <= d < 0.5 for d in durations) and max(durations) - min(durations) > 0.01


def test_fake_provider_concurrent_requests_overlap():
    with FakeProvider(FakeConfig(latency=0.5)) as provider:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=50) as pool:
            statuses = list(pool.map(lambda i: call(provider, chat(model=f"m{i % 5}"))[0], range(50)))
        elapsed = time.monotonic() - started
        assert statuses == [200] * 50 and provider.calls() == 50 and provider.calls("m0") == 10
    assert elapsed < 1.2


def test_fake_provider_keep_alive_serves_many_requests_on_one_connection(fake):
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    for i in range(3):
        conn.request("POST", "/v1/chat/completions", json.dumps(chat(messages=[{"role": "user", "content": str(i)}])))
        assert json.loads(conn.getresponse().read())["choices"][0]["message"]["content"] == f"gpt-x: {i}"
        conn.request("POST", "/v1/chat/completions", json.dumps(chat(stream=True)))
        assert sse_events(conn.getresponse().read())[-1] == "[DONE]"
    conn.close()


def test_fake_provider_reads_chunked_request_body(fake):
    body = json.dumps(chat()).encode()
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    conn.request("POST", "/v1/chat/completions", iter([body[:10], body[10:]]), encode_chunked=True,
                 headers={"Transfer-Encoding": "chunked"})
    assert conn.getresponse().status == 200
    conn.close()


def test_fake_provider_lists_models_and_404s_unknown_paths(fake):
    fake.configure(models=("a", "b"))
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    conn.request("GET", "/v1/models")
    assert [m["id"] for m in json.loads(conn.getresponse().read())["data"]] == ["a", "b"]
    conn.request("GET", "/v1/nothing")
    assert conn.getresponse().status == 404
    conn.close()
    assert fake.base_url == f"http://127.0.0.1:{fake.port}/v1"


def test_fake_provider_records_requests_without_the_key(fake):
    call(fake, chat(temperature=0.2, max_tokens=50))
    call(fake, chat(model="gpt-y@latency=0"), headers={"Authorization": "Bearer short"})
    first, second = fake.requests
    assert first.model == "gpt-x" and first.messages == HELLO and first.params == {"temperature": 0.2, "max_tokens": 50}
    assert first.key_last4 == "7890" and first.key_sha256 and first.outcome == "ok"
    assert second.model == "gpt-y" and second.options == {"latency": 0.0} and second.key_last4 == "****"
    assert KEY not in repr(fake.requests) and "short" not in repr(fake.requests)


def test_fake_provider_header_options_win_over_model_suffix(fake):
    started = time.monotonic()
    options = {"X-Fake-Options": "latency=0,outcome=ok"}
    status, _, data = call(fake, chat(model="gpt-x@latency=5,outcome=500"), headers=options)
    assert status == 200 and time.monotonic() - started < 1
    assert json.loads(data)["model"] == "gpt-x"


@pytest.mark.parametrize("changes", [
    {"script": {"gpt-x": ["boom"]}},
    {"errors": {"429": 0.8, "500": 0.5}},
    {"fail_with": "200"},
    {"reply": "{model} {nope}"},
])
def test_fake_provider_configure_refuses_bad_knobs(fake, changes):
    with pytest.raises((ValueError, KeyError)):
        fake.configure(**changes)
    assert fake.config == FakeConfig()


def test_fake_provider_start_raises_when_the_port_is_taken(fake):
    with pytest.raises(OSError):
        FakeProvider(port=fake.port).start()


def test_fake_provider_shutdown_cuts_held_connections_and_frees_the_port():
    threads_before = threading.active_count()
    provider = FakeProvider(FakeConfig(hold=60)).start()
    port = provider.port
    errors = []

    def hold(body):
        try:
            call(provider, body, timeout=30)
        except (ConnectionError, http.client.HTTPException) as exc:
            errors.append(exc)

    clients = [threading.Thread(target=hold, args=(chat(model=f"gpt-x@outcome={o}", stream=True),))
               for o in ("timeout", "hang")]
    for client in clients:
        client.start()
    while provider.calls() < 2:
        time.sleep(0.01)
    started = time.monotonic()
    provider.stop()
    for client in clients:
        client.join(timeout=5)
    assert time.monotonic() - started < 1 and len(errors) == 2
    assert threading.active_count() == threads_before
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
