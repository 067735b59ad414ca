"""A loopback OpenAI-compatible chat server with knobs for latency, errors and token usage.

    with FakeProvider(FakeConfig(latency=0.5)) as fake:
        litellm.completion(model="openai/gpt-x", api_base=fake.base_url, api_key="k", messages=[...])
        assert fake.calls("gpt-x") == 1

Routes: POST /v1/chat/completions (and /chat/completions), JSON or SSE with `stream: true`; GET /v1/models.
Answer: `FakeConfig.reply.format(model=..., last_user=...)`, default "{model}: {last_user}"; a model named in
`FakeConfig.replies` answers with its own template instead (a judge that answers JSON, say).
Tokens: ceil(chars / 4) of the text, summed over every message's content (prompt) or of the reply
(completion), unless FakeConfig.prompt_tokens / completion_tokens fix them. A reply longer than
`max_tokens` is cut to max_tokens * 4 characters with finish_reason "length".
Outcomes: "ok", an HTTP status as text ("429" carries Retry-After, "500", "503", ...), "timeout" (no
answer, the connection is held for `hold` seconds then closed), "broken_json" (a truncated JSON body, or a
truncated SSE event), "hang" (a stream sends `hang_after` events then stalls; on a non-stream call, a timeout).
Each call's outcome, first match wins: 400 for a malformed body, 401 when `expected_api_key` is set and the
bearer key differs, the per-request `outcome`, `script[model][n]` (n = this model's 0-based call number;
key "*" serves models with no entry), `fail_with` for the first `fail_first_n` calls of each model, a draw
from the `errors` mix (seeded RNG: deterministic for sequential calls), else "ok".
Per-request options override the config for one call: a model-name suffix "gpt-x@latency=0.3,outcome=429"
(the part before "@" is the model everywhere) and/or a header "X-Fake-Options: latency=0.3" (header wins).
Keys: latency, latency_max, retry_after, hold, hang_after, prompt_tokens, completion_tokens, outcome;
an unknown key is a 400. Latency (uniform latency..latency_max when latency_max is set) delays every answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.client import responses

CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
MODELS_PATHS = ("/v1/models", "/models")
_OPTION_TYPES = {"latency": float, "latency_max": float, "retry_after": float, "hold": float,
                 "hang_after": int, "prompt_tokens": int, "completion_tokens": int, "outcome": str}
_MAX_BODY = 32 * 1024 * 1024


def _check_outcome(outcome: str) -> str:
    """Return the outcome, or raise ValueError when it is not one the fake knows."""
    if outcome in ("ok", "timeout", "broken_json", "hang") or (outcome.isdigit() and 400 <= int(outcome) <= 599):
        return outcome
    raise ValueError(f"unknown fake outcome {outcome!r}")


@dataclass
class FakeConfig:
    """How the fake answers; change it with FakeProvider.configure(...) or per request (see the module doc)."""

    reply: str = "{model}: {last_user}"
    replies: dict[str, str] = field(default_factory=dict)
    models: tuple[str, ...] = ("fake-model",)
    latency: float = 0.0
    latency_max: float | None = None
    seed: int = 0
    errors: dict[str, float] = field(default_factory=dict)
    script: dict[str, list[str]] = field(default_factory=dict)
    fail_first_n: int = 0
    fail_with: str = "429"
    retry_after: float = 1.0
    hold: float = 300.0
    hang_after: int = 2
    expected_api_key: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    def __post_init__(self) -> None:
        """Refuse unknown outcomes, an error mix whose probabilities exceed 1, and a reply with unknown fields."""
        for template in [self.reply, *self.replies.values()]:
            template.format(model="", last_user="")
        for outcome in [self.fail_with, *self.errors, *(o for s in self.script.values() for o in s)]:
            _check_outcome(outcome)
        if sum(self.errors.values()) > 1:
            raise ValueError("error probabilities add up to more than 1")


@dataclass(frozen=True)
class RecordedRequest:
    """One chat request as the fake saw it; the API key survives only as its last 4 characters and a hash."""

    model: str | None
    messages: list
    params: dict
    stream: bool
    key_last4: str | None
    key_sha256: str | None
    outcome: str
    options: dict


@dataclass
class _HttpRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


async def _read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> _HttpRequest | None:
    """Read one HTTP/1.x request; None when the client closed the connection between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    if headers.get("expect", "").lower() == "100-continue":  # curl sends it for large bodies
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = await _read_body(reader, headers)
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" and (version == "HTTP/1.1" or connection == "keep-alive")
    return _HttpRequest(method, target.split("?", 1)[0], headers, body, keep_alive)


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    """The request body, by Content-Length or chunked transfer encoding."""
    if "chunked" not in headers.get("transfer-encoding", "").lower():
        length = int(headers.get("content-length", "0"))
        if not 0 <= length <= _MAX_BODY:
            raise ValueError("bad Content-Length")
        return await reader.readexactly(length)
    parts = []
    while size := int((await reader.readline()).split(b";")[0], 16):
        parts.append(await reader.readexactly(size + 2))
    while (await reader.readline()) not in (b"\r\n", b""):  # trailers
        pass
    return b"".join(part[:-2] for part in parts)


def _head(status: int, headers: dict) -> bytes:
    """A response status line and headers."""
    lines = [f"HTTP/1.1 {status} {responses.get(status, 'Status')}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _send(writer: asyncio.StreamWriter, status: int, body: dict | bytes, extra: dict | None = None) -> None:
    """Send a JSON response with an exact Content-Length."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Content-Length": len(data), **(extra or {})}
    writer.write(_head(status, headers) + data)
    await writer.drain()


def _write_chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    """Write one chunk of a chunked response; empty data ends the response."""
    writer.write(b"%x\r\n%s\r\n" % (len(data), data))


def _error(status: int, message: str) -> dict:
    """An OpenAI-style error body."""
    kind = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(status, "invalid_request_error")
    return {"error": {"message": message, "type": kind if status < 500 else "server_error", "param": None,
                      "code": kind if status < 500 else str(status)}}


def _text(content) -> str:
    """The text of a message content: a string, or the text parts of a list."""
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def _tokens(text: str) -> int:
    """The fake's token count: ceil(chars / 4)."""
    return (len(text) + 3) // 4


def _parse_options(text: str) -> dict:
    """Per-request options from "key=value,key=value"; ValueError on an unknown key or a bad value."""
    options = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = pair.partition("=")
        if not sep or key.strip() not in _OPTION_TYPES:
            raise ValueError(f"unknown fake option {pair!r}")
        options[key.strip()] = _OPTION_TYPES[key.strip()](value.strip())
    if "outcome" in options:
        _check_outcome(options["outcome"])
    return options


def _parse_chat(req: _HttpRequest) -> tuple[dict, dict]:
    """The JSON body and the per-request options of a chat call; ValueError says what is malformed."""
    try:
        body = json.loads(req.body)
    except ValueError:
        raise ValueError("request body is not valid JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body["model"]:
        raise ValueError("body needs a JSON object with a 'model' string")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise ValueError("body needs a non-empty 'messages' list of objects")
    options = _parse_options(body["model"].partition("@")[2]) | _parse_options(req.headers.get("x-fake-options", ""))
    return body, options


def _answer(cfg: FakeConfig, body: dict, model: str) -> tuple[str, str, dict]:
    """The reply text, finish_reason and usage for a chat body."""
    messages = body["messages"]
    last_user = next((_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    reply, finish = cfg.replies.get(model, cfg.reply).format(model=model, last_user=last_user), "stop"
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int) and 0 < limit < _tokens(reply):
        reply, finish = reply[: limit * 4], "length"
    prompt = sum(_tokens(_text(m.get("content"))) for m in messages) if cfg.prompt_tokens is None else cfg.prompt_tokens
    completion = _tokens(reply) if cfg.completion_tokens is None else cfg.completion_tokens
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    return reply, finish, usage


def _stream_events(base: dict, reply: str, finish: str, usage: dict | None) -> list[dict]:
    """The chat.completion.chunk events of a streamed answer: role, word pieces, finish, optional usage."""
    def chunk(delta: dict, reason: str | None = None) -> dict:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": reason}]}
    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": piece}) for piece in re.findall(r"\S*\s*", reply) if piece]
    events.append(chunk({}, finish))
    return events + ([{**base, "choices": [], "usage": usage}] if usage else [])


class FakeProvider:
    """The loopback server on its own thread and event loop; use as `with FakeProvider(config) as fake:`."""

    def __init__(self, config: FakeConfig | None = None, host: str = "127.0.0.1", port: int = 0):
        self.config = config or FakeConfig()
        self.host, self.port = host, port
        self._lock = threading.Lock()
        self._records: list[RecordedRequest] = []
        self._counts: Counter = Counter()
        self._seq = 0
        self._reseed()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task] = set()
        self._startup_error: BaseException | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, ending in /v1."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every chat request seen so far, in arrival order."""
        with self._lock:
            return list(self._records)

    def calls(self, model: str | None = None) -> int:
        """How many chat calls reached the fake, for one model (name without "@" options) or in all."""
        with self._lock:
            return self._counts[model] if model is not None else sum(self._counts.values())

    def reset(self) -> None:
        """Forget recorded requests and call counts (scripts start over) and reseed the RNGs."""
        with self._lock:
            self._records.clear()
            self._counts.clear()
            self._reseed()

    def configure(self, **changes) -> FakeConfig:
        """Change config fields at runtime (a new seed reseeds the RNGs); returns the new config."""
        with self._lock:
            self.config = dataclasses.replace(self.config, **changes)
            if "seed" in changes:
                self._reseed()
            return self.config

    def _reseed(self) -> None:
        """Separate RNGs so that latency draws do not shift the error sequence."""
        self._error_rng = random.Random(self.config.seed)
        self._latency_rng = random.Random(self.config.seed + 1)

    def start(self) -> FakeProvider:
        """Start serving; returns once the port is bound."""
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="promptvault-fake-provider", daemon=True)
        self._thread.start()
        ready.wait()
        if self._startup_error is not None:
            self._thread.join()
            raise self._startup_error
        return self

    def stop(self) -> None:
        """Stop serving: cut every open connection (held timeouts and hung streams too) and join the thread."""
        if self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _run(self, ready: threading.Event) -> None:
        """The server thread: bind, serve until stopped, then close everything it opened."""
        loop = self._loop
        try:
            server = loop.run_until_complete(asyncio.start_server(self._serve, self.host, self.port, backlog=2048))
            self.port = server.sockets[0].getsockname()[1]
        except BaseException as exc:  # noqa: BLE001 - handed to start() in the caller's thread
            self._startup_error = exc
            loop.close()
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(self._shutdown(server))
        loop.close()

    async def _shutdown(self, server: asyncio.Server) -> None:
        """Close the listener and cancel every connection handler."""
        server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await server.wait_closed()
        await asyncio.sleep(0)  # let the transports finish closing

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one keep-alive connection until the client closes it or an outcome ends it."""
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            while (req := await _read_request(reader, writer)) is not None:
                if not await self._route(req, writer) or not req.keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass  # a client that went away or spoke broken HTTP: drop the connection
        except asyncio.CancelledError:
            pass  # shutdown: end quietly (asyncio logs a handler that ends cancelled)
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _route(self, req: _HttpRequest, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection must be closed afterwards."""
        if req.method == "POST" and req.path in CHAT_PATHS:
            return await self._chat(req, writer)
        if req.method == "GET" and req.path in MODELS_PATHS:
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.config.models]
            await _send(writer, 200, {"object": "list", "data": data})
            return True
        await _send(writer, 404, _error(404, f"no route for {req.method} {req.path}"))
        return True

    async def _chat(self, req: _HttpRequest, writer: asyncio.StreamWriter) -> bool:
        """A chat completion: decide the outcome, wait the latency, answer."""
        auth = req.headers.get("authorization", "")
        key = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        try:
            body, options = _parse_chat(req)
        except ValueError as exc:
            self._record(None, {}, key, "400", {})
            await _send(writer, 400, _error(400, str(exc)))
            return True
        model = body["model"].partition("@")[0]
        overrides = {k: v for k, v in options.items() if k != "outcome"}
        cfg = dataclasses.replace(self.config, **overrides) if overrides else self.config
        outcome, cid, delay = self._decide(cfg, model, key, options)
        self._record(model, body, key, outcome, options)
        if outcome == "timeout" or (outcome == "hang" and not body.get("stream")):
            await asyncio.sleep(cfg.hold)
            return False
        await asyncio.sleep(delay)
        if outcome.isdigit():
            await self._send_status(writer, cfg, int(outcome))
            return True
        base = {"id": cid, "created": int(time.time()), "model": model}
        if body.get("stream"):
            return await self._stream(writer, cfg, body, base, outcome)
        if outcome == "broken_json":
            await _send(writer, 200, f'{{"id": "{cid}", "object": "chat.completion", "choices": [{{'.encode())
            return True
        reply, finish, usage = _answer(cfg, body, model)
        message = {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": finish}
        await _send(writer, 200, {**base, "object": "chat.completion", "choices": [message], "usage": usage})
        return True

    def _decide(self, cfg: FakeConfig, model: str, key: str | None, options: dict) -> tuple[str, str, float]:
        """This call's outcome, completion id and latency; counts the call for its model."""
        with self._lock:
            n, self._seq = self._counts[model], self._seq + 1
            self._counts[model] += 1
            delay = cfg.latency if cfg.latency_max is None else self._latency_rng.uniform(cfg.latency, cfg.latency_max)
            script = cfg.script.get(model, cfg.script.get("*", []))
            if cfg.expected_api_key is not None and key != cfg.expected_api_key:
                outcome = "401"
            elif "outcome" in options:
                outcome = options["outcome"]
            elif n < len(script):
                outcome = script[n]
            else:
                outcome = cfg.fail_with if n < cfg.fail_first_n else self._draw(cfg.errors)
            return outcome, f"chatcmpl-fake-{self._seq}", delay

    def _draw(self, errors: dict[str, float]) -> str:
        """An outcome from the error mix (called under the lock)."""
        roll, total = self._error_rng.random(), 0.0
        for outcome, probability in errors.items():
            total += probability
            if roll < total:
                return outcome
        return "ok"

    def _record(self, model: str | None, body: dict, key: str | None, outcome: str, options: dict) -> None:
        """Keep the request for assertions, with the key reduced to its last 4 characters and a hash."""
        params = {k: v for k, v in body.items() if k not in ("model", "messages")}
        digest = hashlib.sha256(key.encode()).hexdigest()[:16] if key else None
        last4 = (key[-4:] if len(key) >= 12 else "****") if key else None
        record = RecordedRequest(model, body.get("messages", []), params, bool(body.get("stream")), last4, digest,
                                 outcome, options)
        with self._lock:
            self._records.append(record)

    async def _send_status(self, writer: asyncio.StreamWriter, cfg: FakeConfig, status: int) -> None:
        """An error response; a 429 carries Retry-After (seconds) and retry-after-ms."""
        extra = {"Retry-After": f"{cfg.retry_after:g}", "retry-after-ms": int(cfg.retry_after * 1000)}
        message = "invalid API key" if status == 401 else f"fake provider error {status}"
        await _send(writer, status, _error(status, message), extra if status == 429 else None)

    async def _stream(self, writer: asyncio.StreamWriter, cfg: FakeConfig, body: dict, base: dict, outcome: str
                      ) -> bool:
        """Send SSE chunks then [DONE]; a hung stream stalls after `hang_after` events until `hold` or shutdown."""
        writer.write(_head(200, {"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                 "Transfer-Encoding": "chunked"}))
        base = {**base, "object": "chat.completion.chunk"}
        if outcome == "broken_json":
            _write_chunk(writer, b'data: {"id": "' + base["id"].encode() + b'", "choices": [{\n\n')
        else:
            reply, finish, usage = _answer(cfg, body, base["model"])
            wants_usage = isinstance(body.get("stream_options"), dict) and body["stream_options"].get("include_usage")
            for i, event in enumerate(_stream_events(base, reply, finish, usage if wants_usage else None)):
                if outcome == "hang" and i == cfg.hang_after:
                    await writer.drain()
                    await asyncio.sleep(cfg.hold)
                    return False
                _write_chunk(writer, b"data: " + json.dumps(event).encode() + b"\n\n")
        _write_chunk(writer, b"data: [DONE]\n\n")
        _write_chunk(writer, b"")
        await writer.drain()
        return True
