"""The HTTP side of the OpenAI-compatible backends: spec parsing, requests with bounded retries, errors.

Failure policy: a short connect timeout and bounded retries with exponential backoff on connection
errors, 5xx and 429, then :class:`~vimrag.errors.ServerUnreachableError` naming the URL and the fix — a
stopped server fails in about a second instead of hanging an ingest.
"""

from __future__ import annotations

import copy
import json
import os
import threading
import time
from typing import Any

import httpx

from vimrag.config import ModelsConfig
from vimrag.errors import ConfigError, ServerUnreachableError, VimragError

_BACKOFF_S = 0.25
_MAX_BACKOFF_S = 4.0
_RETRY_STATUS = {429, 500, 502, 503, 504}


class ServerRequestError(VimragError):
    """The server answered but refused the request (4xx other than 429): wrong model name, bad parameter."""

    def __init__(self, url: str, status: int, body: str) -> None:
        super().__init__(f"{url} answered HTTP {status}: {body[:300]}")
        self.url = url
        self.status = status
        self.body = body


def _is_validation_error(body: str) -> bool:
    low = body[:2000].lower()
    return "validation error" in low or "literal_error" in low or "input should be" in low


def parse_openai_spec(spec: str) -> tuple[str, str]:
    """``BASE_URL#MODEL`` (the part after ``openai:``) → (base_url without trailing slash, model or "")."""
    base, _, model = spec.partition("#")
    base = base.strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ConfigError(
            f"OpenAI-compatible spec needs an http(s) URL, got {spec!r}; "
            "example: openai:http://localhost:8000/v1#Qwen/Qwen2.5-VL-7B-Instruct"
        )
    return base, model.strip()


class OpenAIHTTP:
    """A JSON-over-HTTP client with connect/read timeouts and bounded retries."""

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout_s: float = 3.0,
        timeout_s: float = 60.0,
        retries: int = 2,
        api_key: str | None = None,
        config_key: str = "models.llm",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = max(0, int(retries))
        self.config_key = config_key
        headers = {"Content-Type": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client_args: dict[str, Any] = {
            "headers": headers, "timeout": httpx.Timeout(timeout_s, connect=connect_timeout_s), "transport": transport}
        self._client = httpx.Client(**self._client_args)
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s

    @classmethod
    def from_config(
        cls, base_url: str, cfg: ModelsConfig, config_key: str, transport: httpx.BaseTransport | None = None
    ) -> OpenAIHTTP:
        """The client with the timeouts, retries and API key of ``cfg``; ``config_key`` is named in errors."""
        return cls(base_url, connect_timeout_s=cfg.connect_timeout_s, timeout_s=cfg.timeout_s, retries=cfg.retries,
                   api_key=api_key(cfg), config_key=config_key, transport=transport)

    def at(self, base_url: str) -> OpenAIHTTP:
        """A client for another base URL of the same server (e.g. its root, where ``/tokenize`` lives) with
        this one's timeouts, retries, API key, transport and config key."""
        other = copy.copy(self)
        other.base_url = base_url.rstrip("/")
        other._client = httpx.Client(**self._client_args)
        return other

    def close(self) -> None:
        self._client.close()

    def _unreachable(self, url: str, reason: str, attempts: int) -> ServerUnreachableError:
        return ServerUnreachableError(
            f"model server {url} is unreachable ({reason}; {attempts} attempt{'s' if attempts > 1 else ''}). "
            f"Start the server (e.g. 'llama-server -m FILE.gguf', 'vllm serve MODEL', "
            f"'ollama serve') or point {self.config_key} elsewhere (vimrag.toml [models], or "
            f"--set {self.config_key}=...)."
        )

    def _send(self, method: str, url: str, payload: dict[str, Any] | None) -> httpx.Response:
        """One request with an overall deadline (connect + ``timeout_s``), not only a per-read timeout.

        httpx's read timeout restarts with every byte, so a server that sends its headers and then one
        byte every 20 s would be waited on forever. The request runs in a worker thread; past the deadline
        its client is closed (which ends the worker's read at the latest with the next byte) and replaced.
        """
        client = self._client
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["resp"] = client.request(method, url, json=payload)  # reads the whole body
            except BaseException as exc:  # handed to the caller below, never lost
                box["exc"] = exc

        worker = threading.Thread(target=work, name="vimrag-http", daemon=True)
        worker.start()
        worker.join(self.connect_timeout_s + self.timeout_s)
        if worker.is_alive():
            self._client = httpx.Client(**self._client_args)
            client.close()
            raise httpx.ReadTimeout(f"no complete answer within {self.timeout_s:.0f} s")
        if "exc" in box:
            raise box["exc"]
        resp: httpx.Response = box["resp"]
        return resp

    def request(self, method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        url = f"{self.base_url}{path}"
        attempts = self.retries + 1
        reason = ""
        for attempt in range(attempts):
            if attempt:
                time.sleep(min(_MAX_BACKOFF_S, _BACKOFF_S * 2 ** (attempt - 1)))
            try:
                resp = self._send(method, url, payload)
            except httpx.TimeoutException as exc:
                if isinstance(exc, httpx.ConnectTimeout):
                    reason = f"connect timeout: {exc}"
                    continue
                # A read timeout means the server is alive but slow: retrying would multiply the wait.
                raise ServerUnreachableError(
                    f"model server {url} did not answer within {self.timeout_s:.0f} s ({type(exc).__name__}). "
                    f"Raise models.timeout_s, ask for fewer tokens, or check the server's load."
                ) from exc
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
                continue
            if resp.status_code == 500 and _is_validation_error(resp.text):
                # llama-cpp-python's server answers a rejected request parameter with HTTP 500: not transient.
                raise ServerRequestError(url, resp.status_code, resp.text)
            if resp.status_code in _RETRY_STATUS:
                reason = f"HTTP {resp.status_code}: {resp.text[:200]}"
                retry_after = resp.headers.get("retry-after")
                if retry_after and retry_after.replace(".", "", 1).isdigit() and attempt + 1 < attempts:
                    time.sleep(min(_MAX_BACKOFF_S, float(retry_after)))
                continue
            if resp.status_code >= 400:
                raise ServerRequestError(url, resp.status_code, resp.text)
            try:
                data = resp.json()
            except (json.JSONDecodeError, ValueError) as exc:
                raise ServerRequestError(url, resp.status_code, f"not JSON: {resp.text[:200]}") from exc
            if not isinstance(data, dict):
                raise ServerRequestError(url, resp.status_code, f"unexpected JSON: {str(data)[:200]}")
            return data
        raise self._unreachable(url, reason, attempts)


def api_key(cfg: ModelsConfig) -> str | None:
    return os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
