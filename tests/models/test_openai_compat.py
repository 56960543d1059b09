"""OpenAI-compatible backend: unit tests (helpers, retries against a scripted HTTP server in a thread) and
integration tests against a real llama.cpp server (see conftest)."""

from __future__ import annotations

import base64
import io
import json
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from vimrag.config import ModelsConfig
from vimrag.errors import ServerUnreachableError
from vimrag.models.base import ImageInput, Message
from vimrag.models.images import fit_to_pixels, to_data_url
from vimrag.models.jsonparse import JSONExtractionError, parse_json_loose
from vimrag.models.openai_compat import (
    OpenAICompatEmbedder,
    OpenAICompatLLM,
    to_openai_messages,
    yes_no_from_text,
    yes_no_from_top_logprobs,
)
from vimrag.models.openai_http import OpenAIHTTP, ServerRequestError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


FAST = ModelsConfig(connect_timeout_s=1.0, timeout_s=5.0, retries=2)

# ---------------------------------------------------------------- helpers: JSON, images, logprobs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        (
            'Sure! Here it is:\n```json\n{"wanted": ["dog"], "unwanted": ["cat"],}\n```\nDone.',
            {"wanted": ["dog"], "unwanted": ["cat"]},
        ),
        ('The answer is {"x": "a } brace", "y": [1, 2,],} ok', {"x": "a } brace", "y": [1, 2]}),
        ("prefix [1, 2, 3] suffix", [1, 2, 3]),
        ('{"s": "comma, ]"}', {"s": "comma, ]"}),
        ('noise {not json} then {"ok": true}', {"ok": True}),
    ],
)
def test_parse_json_loose(text: str, expected: Any) -> None:
    assert parse_json_loose(text) == expected


def test_parse_json_loose_failure_is_clear() -> None:
    with pytest.raises(JSONExtractionError, match="no JSON object or array"):
        parse_json_loose("I cannot answer that.")
    with pytest.raises(ValueError):  # JSONExtractionError is a ValueError for callers that catch that
        parse_json_loose('{"a": ')


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
).filter(lambda v: isinstance(v, (dict, list))))  # fmt: skip
def test_parse_json_loose_roundtrips_embedded_json(value: Any) -> None:
    text = f"Here you go:\n```json\n{json.dumps(value, indent=1)}\n```"
    assert parse_json_loose(text) == value
    assert parse_json_loose("blah " + json.dumps(value) + " blah") == value


@given(st.integers(1, 3000), st.integers(1, 3000), st.integers(1, 2_000_000))
def test_fit_to_pixels_respects_budget_and_aspect(w: int, h: int, budget: int) -> None:
    img = Image.new("RGB", (w, h))
    out = fit_to_pixels(img, budget)
    ow, oh = out.size
    if w * h <= budget:
        assert out.size == (w, h)
        return
    assert ow * oh <= budget or (ow == 1 or oh == 1) and ow * oh <= max(w, h)
    assert ow <= w and oh <= h
    if min(ow, oh) >= 20:
        assert math.isclose(ow / oh, w / h, rel_tol=0.1)


def test_to_data_url_roundtrip() -> None:
    img = Image.new("RGB", (100, 80), (200, 10, 10))
    url = to_data_url(img)
    assert url.startswith("data:image/jpeg;base64,")
    back = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert back.size == (100, 80)
    assert to_data_url(img.convert("RGBA")).startswith("data:image/png;base64,")
    with pytest.raises(ValueError, match="PNG or JPEG"):
        to_data_url(img, fmt="GIF")


def test_messages_carry_resized_images_first() -> None:
    img = Image.new("RGB", (400, 200))
    msgs = to_openai_messages(
        [Message("system", "s"), Message("user", "what?", [ImageInput(img, max_pixels=20_000)])]
    )
    assert msgs[0] == {"role": "system", "content": "s"}
    parts = msgs[1]["content"]
    assert [p["type"] for p in parts] == ["image_url", "text"] and parts[1]["text"] == "what?"
    sent = Image.open(io.BytesIO(base64.b64decode(parts[0]["image_url"]["url"].split(",", 1)[1])))
    assert sent.width * sent.height <= 20_000 and sent.width == 2 * sent.height


def test_yes_probability_from_top_logprobs() -> None:
    top = [
        {"token": "Yes", "logprob": math.log(0.6)},
        {"token": " yes", "logprob": math.log(0.1)},
        {"token": "No", "logprob": math.log(0.2)},
        {"token": "Maybe", "logprob": math.log(0.1)},
    ]
    assert yes_no_from_top_logprobs(top) == pytest.approx(0.7 / 0.9)
    assert yes_no_from_top_logprobs([{"token": "The", "logprob": -0.1}]) is None
    assert yes_no_from_text(" Yes.") == 1.0 and yes_no_from_text("no") == 0.0 and yes_no_from_text("?") == 0.5


# ---------------------------------------------------------------- a scripted HTTP server for failure paths


Handler = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any] | str]]


@pytest.fixture
def scripted() -> Iterator[Callable[[Handler], tuple[str, list[dict[str, Any]]]]]:
    servers: list[ThreadingHTTPServer] = []

    def start(handler: Handler) -> tuple[str, list[dict[str, Any]]]:
        seen: list[dict[str, Any]] = []

        class H(BaseHTTPRequestHandler):
            def _reply(self, method: str) -> None:
                n = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(n) or b"{}")
                seen.append({"path": self.path, "method": method, **body})
                status, payload = handler(self.path, body)
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802
                self._reply("POST")

            def do_GET(self) -> None:  # noqa: N802
                self._reply("GET")

            def log_message(self, *args: Any) -> None:
                pass

        srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}/v1", seen

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def _chat(text: str, top: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text}}
    if top is not None:
        choice["logprobs"] = {"content": [{"token": text, "logprob": -0.1, "top_logprobs": top}]}
    return {"choices": [choice], "usage": {"prompt_tokens": 11, "completion_tokens": 3}}


def test_dead_server_fails_fast_with_a_fix() -> None:
    port = free_port()  # nothing listens here
    llm = OpenAICompatLLM(f"http://127.0.0.1:{port}/v1#m", ModelsConfig())
    t0 = time.monotonic()
    with pytest.raises(ServerUnreachableError) as ei:
        llm.generate([Message("user", "hi")])
    elapsed = time.monotonic() - t0
    assert elapsed < 5.0, f"took {elapsed:.1f}s"
    msg = str(ei.value)
    assert f"http://127.0.0.1:{port}/v1/chat/completions" in msg
    assert "Start the server" in msg and "models.llm" in msg and "3 attempts" in msg


def test_retries_5xx_and_429_then_succeeds(scripted: Any) -> None:
    answers = iter([(503, "busy"), (429, "slow down"), (200, _chat("hello"))])
    base, seen = scripted(lambda path, body: next(answers))
    comp = OpenAICompatLLM(f"{base}#m", FAST).generate([Message("user", "hi")], max_tokens=5)
    assert comp.text == "hello" and comp.prompt_tokens == 11 and comp.completion_tokens == 3
    assert len(seen) == 3 and seen[-1]["max_tokens"] == 5 and seen[-1]["model"] == "m"


def test_persistent_5xx_becomes_unreachable(scripted: Any) -> None:
    base, seen = scripted(lambda path, body: (500, "boom"))
    with pytest.raises(ServerUnreachableError, match="HTTP 500"):
        OpenAICompatLLM(f"{base}#m", replace(FAST, retries=1)).generate([Message("user", "hi")])
    assert len(seen) == 2


def test_client_error_is_not_retried(scripted: Any) -> None:
    base, seen = scripted(lambda path, body: (404, {"error": "model 'zz' not found"}))
    with pytest.raises(ServerRequestError, match="404.*not found") as ei:
        OpenAICompatLLM(f"{base}#zz", FAST).generate([Message("user", "hi")])
    assert ei.value.status == 404 and len(seen) == 1


def test_read_timeout_is_reported(scripted: Any) -> None:
    def slow(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        time.sleep(2.0)
        return 200, _chat("late")

    base, _ = scripted(slow)
    t0 = time.monotonic()
    with pytest.raises(ServerUnreachableError, match="did not answer within 1 s"):
        OpenAICompatLLM(f"{base}#m", replace(FAST, timeout_s=1.0)).generate([Message("user", "hi")])
    assert time.monotonic() - t0 < 1.9  # a read timeout is not retried


def test_generate_json_falls_back_when_response_format_is_rejected(scripted: Any) -> None:
    def handler(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | str]:
        if "response_format" in body:
            return 400, {"error": "response_format is not supported"}
        return 200, _chat('Here:\n```json\n{"wanted": ["dog"],}\n```')

    base, seen = scripted(handler)
    llm = OpenAICompatLLM(f"{base}#m", FAST)
    schema = {"type": "object", "properties": {"wanted": {"type": "array"}}}
    value, comp = llm.generate_json([Message("user", "parse")], schema)
    assert value == {"wanted": ["dog"]} and comp.prompt_tokens == 11
    assert [s.get("response_format", {}).get("type") for s in seen] == ["json_schema", "json_object", None]
    assert "JSON schema" in seen[-1]["messages"][0]["content"]
    seen.clear()
    llm.generate_json([Message("user", "again")], schema)
    assert len(seen) == 1  # the accepted mode is remembered


def test_validation_error_disguised_as_500_is_not_retried(scripted: Any) -> None:
    """llama-cpp-python's server reports a rejected parameter as HTTP 500 with a pydantic message."""

    def handler(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | str]:
        if body.get("response_format", {}).get("type") == "json_schema":
            return 500, {"error": {"message": "1 validation error: literal_error Input should be 'text'"}}
        return 200, _chat('{"ok": 1}')

    base, seen = scripted(handler)
    value, _ = OpenAICompatLLM(f"{base}#m", FAST).generate_json([Message("user", "x")], {"type": "object"})
    assert value == {"ok": 1}
    assert [s.get("response_format", {}).get("type") for s in seen] == ["json_schema", "json_object"]


def test_yes_probability_degrades_to_text_without_logprobs(scripted: Any) -> None:
    def handler(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | str]:
        if body.get("logprobs"):
            return 400, {"error": "logprobs not supported"}
        return 200, _chat("No")

    base, seen = scripted(handler)
    llm = OpenAICompatLLM(f"{base}#m", FAST)
    assert llm.yes_probability("Is the sky green?") == 0.0
    assert [s.get("top_logprobs") for s in seen] == [20, 5, None]
    assert all(s["max_tokens"] == 1 for s in seen)


def test_yes_probability_from_server_logprobs_and_model_discovery(scripted: Any) -> None:
    top = [{"token": "Yes", "logprob": math.log(0.3)}, {"token": "No", "logprob": math.log(0.6)}]

    def handler(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | str]:
        if path.endswith("/models"):
            return 200, {"data": [{"id": "served-model"}]}
        return 200, _chat("No", top)

    base, seen = scripted(handler)
    llm = OpenAICompatLLM(base, FAST)  # no #MODEL: discovered from GET /models
    img = ImageInput(Image.new("RGB", (64, 64)), max_pixels=1024)
    assert llm.yes_probability("Is there a dog?", [img]) == pytest.approx(1 / 3)
    assert seen[1]["model"] == "served-model" and seen[1]["top_logprobs"] == 20
    assert seen[1]["messages"][0]["content"][0]["type"] == "image_url"


def test_logit_bias_goes_by_the_servers_token_id_asked_once(scripted: Any) -> None:
    """A text's bias reaches ``/chat/completions`` keyed by the first id ``/tokenize`` (at the server's root,
    not under /v1) gives for it; the id is asked once per text, and a zero bias is not sent."""

    def handler(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | str]:
        if path == "/tokenize":
            return 200, {"tokens": [9693, 12] if body["prompt"] == "answer" else [7]}
        return 200, _chat("ok")

    base, seen = scripted(handler)
    llm = OpenAICompatLLM(f"{base}#m", FAST)
    for _ in range(2):
        llm.generate([Message("user", "x")], logit_bias={"answer": 0.6, "retrieve": 0.0})
    assert [s["path"] for s in seen] == ["/tokenize", "/v1/chat/completions", "/v1/chat/completions"]
    assert seen[0]["content"] == "answer" and seen[0]["add_special_tokens"] is False and seen[0]["model"] == "m"
    assert seen[1]["logit_bias"] == seen[2]["logit_bias"] == {"9693": 0.6}
    llm.generate([Message("user", "x")])
    assert "logit_bias" not in seen[-1]


def test_logit_bias_is_left_out_where_the_server_cannot_tokenize(scripted: Any) -> None:
    """OpenAI and Ollama have no /tokenize: the chat goes out without a bias (a guessed id could favour an
    unrelated token), and the route is not asked again."""

    def handler(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | str]:
        if path == "/tokenize":
            return 404, {"error": "not found"}
        return 200, _chat("ok")

    base, seen = scripted(handler)
    llm = OpenAICompatLLM(f"{base}#m", FAST)
    for _ in range(2):
        assert llm.generate([Message("user", "x")], logit_bias={"answer": 0.6}).text == "ok"
    assert [s["path"] for s in seen] == ["/tokenize", "/v1/chat/completions", "/v1/chat/completions"]
    assert all("logit_bias" not in s for s in seen[1:])


def test_a_client_at_another_base_url_keeps_its_settings() -> None:
    """``/tokenize`` is asked through a client at the server's root: same key, timeouts and config key (named in
    errors), its own connection pool."""
    http = OpenAIHTTP("http://127.0.0.1:9/v1", timeout_s=7.0, retries=1, api_key="sk-x", config_key="models.vlm")
    root = http.at("http://127.0.0.1:9/")
    assert (root.base_url, root.config_key, root.timeout_s, root.retries) == ("http://127.0.0.1:9", "models.vlm", 7.0, 1)
    assert root._client is not http._client and root._client.headers["authorization"] == "Bearer sk-x"
    assert http.base_url == "http://127.0.0.1:9/v1"


def test_api_key_from_configured_env(scripted: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    captured: dict[str, str] = {}

    base, _ = scripted(lambda path, body: (200, _chat("ok")))
    monkeypatch.setenv("VIMRAG_TEST_KEY", "sk-test")
    llm = OpenAICompatLLM(f"{base}#m", replace(FAST, api_key_env="VIMRAG_TEST_KEY"))
    captured["auth"] = llm._http._client.headers.get("authorization", "")
    assert captured["auth"] == "Bearer sk-test"


def test_embeddings_endpoint_normalizes(scripted: Any) -> None:
    def handler(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | str]:
        data = [{"index": i, "embedding": [3.0, 4.0 + i]} for i in range(len(body["input"]))]
        return 200, {"data": list(reversed(data))}

    base, seen = scripted(handler)
    emb = OpenAICompatEmbedder(f"{base}#e5", FAST, batch_size=2)
    out = emb.embed(["a", "b", "c"])
    assert out.dtype.name == "float32" and out.shape == (3, 2) and emb.dim == 2
    assert out[0] == pytest.approx([0.6, 0.8]) and out[1] == pytest.approx(
        [3 / math.hypot(3, 5), 5 / math.hypot(3, 5)]
    )
    assert [len(s["input"]) for s in seen] == [2, 1]


def test_closed_socket_mid_request_is_retried() -> None:
    """A server that accepts then drops the connection is treated like a dead one (bounded, fast)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    stop = threading.Event()

    def drop() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                conn.close()
            except OSError:
                continue

    t = threading.Thread(target=drop, daemon=True)
    t.start()
    try:
        t0 = time.monotonic()
        with pytest.raises(ServerUnreachableError):
            OpenAICompatLLM(f"http://127.0.0.1:{port}/v1#m", FAST).generate([Message("user", "x")])
        assert time.monotonic() - t0 < 5.0
    finally:
        stop.set()
        t.join(2)
        srv.close()


# ---------------------------------------------------------------- a real llama.cpp server


@pytest.mark.slow
@pytest.mark.integration
def test_real_server_generate_json_and_yes(llama_server: str, qwen05b: Any) -> None:
    """A real llama.cpp OpenAI server with the 0.5B model, in its own process. P(Yes) over HTTP must equal
    the in-process backend's for the same model (the OpenAI client's and the embedded backend's reading of
    Eq. 4's term)."""
    llm = OpenAICompatLLM(f"{llama_server}#qwen", replace(FAST, timeout_s=120.0))
    comp = llm.generate([Message("user", "Say hello in one word.")], max_tokens=8)
    assert comp.text.strip() and comp.prompt_tokens > 0 and 0 < comp.completion_tokens <= 8

    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
        "required": ["city", "country"],
    }
    value, _ = llm.generate_json(
        [Message("user", "Give the capital of France as JSON with keys city and country.")],
        schema,
        max_tokens=32,
    )
    assert isinstance(value, dict) and set(value) >= {"city", "country"}
    assert "paris" in str(value["city"]).lower()

    q = "Is Paris the capital of France? Answer Yes or No."
    p_server = llm.yes_probability(q)
    assert 0.0 < p_server < 1.0  # a probability from logprobs, not a parsed 0/1 text answer
    assert p_server == pytest.approx(qwen05b.yes_probability(q), abs=0.03)


@pytest.mark.slow
@pytest.mark.integration
def test_real_server_takes_a_logit_bias_by_text(llama_server: str) -> None:
    """Against llama.cpp's own server: a large bias on "No" turns the model's "Yes" into "No" (the text
    found its token id through /tokenize); a zero bias changes nothing."""
    llm = OpenAICompatLLM(f"{llama_server}#qwen", replace(FAST, timeout_s=120.0))
    ask = [Message("user", "Is Paris the capital of France? Answer with one word, Yes or No.")]
    plain = llm.generate(ask, max_tokens=2).text.strip()
    assert plain.startswith("Yes")
    assert llm.generate(ask, max_tokens=2, logit_bias={"No": 30.0}).text.strip().startswith("No")
    assert llm.generate(ask, max_tokens=2, logit_bias={"No": 0.0}).text.strip() == plain


@pytest.mark.parametrize("body", [
    {"choices": "none"}, {"choices": ["text"]}, {"choices": [{"message": "hi"}]}, {"choices": [{"message": {"content": 5}}]},
    {"choices": [{"message": {"content": "ok"}}], "usage": "lots"},
])
def test_a_reply_of_the_wrong_shape_is_a_clear_error_or_read_safely(scripted: Any, body: dict[str, Any]) -> None:
    """HTTP 200 with JSON of the wrong shape: a ServerRequestError naming the URL, never an AttributeError."""
    url, _ = scripted(lambda path, req: (200, body))
    llm = OpenAICompatLLM(f"{url}#m", ModelsConfig(retries=0))
    if body.get("usage") == "lots":  # a usable answer with a broken usage block: counted locally
        out = llm.generate([Message("user", "hi")])
        assert out.text == "ok" and out.completion_tokens >= 1
        return
    with pytest.raises(ServerRequestError, match="chat/completions"):
        llm.generate([Message("user", "hi")])


def test_a_trickling_server_is_given_up_on_within_the_timeout() -> None:
    """Headers, then one byte every second: the read timeout restarts with each byte, the deadline does not."""
    class Trickle(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", "100000")
            self.end_headers()
            try:
                for _ in range(60):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(1.0)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        llm = OpenAICompatLLM(f"http://127.0.0.1:{srv.server_address[1]}/v1#m",
                              ModelsConfig(timeout_s=3.0, connect_timeout_s=1.0, retries=0))
        t0 = time.monotonic()
        with pytest.raises(ServerUnreachableError, match="did not answer within 3 s"):
            llm.generate([Message("user", "hi")])
        assert time.monotonic() - t0 < 3.0 + 1.0 + 2.0
    finally:
        srv.shutdown()
        srv.server_close()
