"""MCP with the SDK's own client: over stdio (``vimrag mcp``) and over streamable HTTP (``/mcp``, token)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import pytest

from tests.server.conftest import TOKEN, Server

pytestmark = [pytest.mark.slow, pytest.mark.integration]

mcp = pytest.importorskip("mcp")

TOOLS = {"search", "ask", "ingest", "remove", "sources", "workspaces"}


def _payload(result: Any) -> dict:
    assert not result.is_error, result.content
    return json.loads(result.content[0].text)


async def _session(server: Any) -> dict[str, Any]:
    from mcp import Client

    out: dict[str, Any] = {}
    async with Client(server, read_timeout_seconds=300) as c:
        out["tools"] = {t.name for t in (await c.list_tools()).tools}
        out["search"] = _payload(await c.call_tool("search", {"query": "a photo with a person but no cat", "k": 3}))
        out["images"] = await c.call_tool("search", {"query": "a photo with a cat", "k": 1, "images": True})
        out["sources"] = _payload(await c.call_tool("sources", {}))
        out["ask"] = _payload(await c.call_tool("ask", {"question": "What is in the photo of the cat?", "method": "rag"}))
        out["escape"] = await c.call_tool("ingest", {"paths": ["/etc"]})
        out["workspaces"] = _payload(await c.call_tool("workspaces", {}))
        out["elsewhere"] = await c.call_tool("search", {"query": "a cat", "workspace": "nope"})
    return out


def _check(out: dict[str, Any]) -> None:
    assert out["tools"] == TOOLS
    top = out["search"]["results"][0]
    assert top["source"].endswith("astronaut.png") and top["state"] == "verified"
    assert any(h["source"].endswith("chelsea.png") for h in out["search"]["excluded"])
    kinds = [c.type for c in out["images"].content]
    assert kinds[0] == "text" and "image" in kinds, kinds
    assert len(out["sources"]["sources"]) >= 4
    assert out["ask"]["method"] == "rag" and out["ask"]["citations"], out["ask"]
    assert out["escape"].is_error and "outside the ingest roots" in out["escape"].content[0].text  # the reason
    # the server is shared by the session's tests (the page's test adds a workspace of its own)
    assert out["workspaces"]["default"] == "default" and out["workspaces"]["workspaces"][0] == "default"
    assert out["elsewhere"].is_error and "no workspace 'nope'" in out["elsewhere"].content[0].text


def test_mcp_over_stdio(lance_server: Server) -> None:
    from mcp.client.stdio import StdioServerParameters

    sets = [a for s in lance_server.settings for a in ("--set", s)]
    params = StdioServerParameters(command=sys.executable, args=["-m", "vimrag", *sets, "mcp"],
                                   env={**os.environ, "HF_HUB_OFFLINE": "1"}, cwd=str(lance_server.root.parent))
    _check(asyncio.run(_session(params)))


def test_mcp_over_http_with_the_token(lance_server: Server) -> None:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=300)
    _check(asyncio.run(_session(streamable_http_client(lance_server.url + "/mcp", http_client=client))))


def test_mcp_over_http_without_the_token_is_refused(lance_server: Server) -> None:
    import httpx

    r = httpx.post(lance_server.url + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                   headers={"Accept": "application/json, text/event-stream"})
    assert r.status_code == 401

