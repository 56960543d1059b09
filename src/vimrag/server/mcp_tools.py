"""MCP tools over the service, on the official ``mcp`` Python SDK: ``search``, ``ask``, ``ingest``,
``remove``, ``sources``, ``workspaces``. The same server runs on stdio (``vimrag mcp``) and over streamable HTTP at
``/mcp`` of ``vimrag serve`` (same token).

Every tool runs its work in a worker thread: a question takes the model for tens of seconds, and the
event loop it would block also serves the REST API and the page. A refusal the service explains (a path
outside the ingest roots, an unknown source or workspace, a busy model) reaches the agent with its reason
as a tool error; the SDK would otherwise show only "Error executing tool NAME".
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from vimrag._extras import require
from vimrag.errors import VimragError
from vimrag.server.service import Service

_INSTRUCTIONS = (
    "vimrag is a multimodal memory (documents, photos, slides, videos) with logic-aware search. "
    "Use `search` for evidence ('a photo with a dog but no person' excludes items verified to contain a "
    "person), `ask` for an answer with citations (source, page, box, timestamp), `sources` to see what "
    "the memory holds."
)


def build_mcp(service: Service) -> Any:
    """An ``MCPServer`` whose tools call ``service``."""
    require("mcp", "server")
    import anyio
    from mcp.server.mcpserver import Image, MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    mcp = MCPServer("vimrag", instructions=_INSTRUCTIONS, log_level="WARNING")

    def explained(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(fn)  # the SDK reads the tool's signature and docstring through __wrapped__
        async def tool(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except VimragError as exc:
                raise ToolError(str(exc)) from exc

        return tool

    @mcp.tool()
    @explained
    async def search(query: str, k: int = 5, strict: bool = False, images: bool = False,
                     workspace: str | None = None) -> Any:
        """Logic-aware search of the memory. Results come verified first, then uncertain, never a
        contradicted item above a consistent one; each has its source, locator (page, box, seconds), state,
        similarity and an explanation, plus the excluded near-misses. `strict`: only verified matches.
        `images`: also return the thumbnails of the results as images. `workspace`: the corpus to search
        (default: the server's; see `workspaces`)."""
        result = await anyio.to_thread.run_sync(service.search, query, k, strict, workspace)
        if not images:
            return result
        pictures = []
        for hit in result["results"]:
            if "media" in hit:
                data = await anyio.to_thread.run_sync(service.media_bytes, hit["id"], None, workspace)
                pictures.append(Image(data=data, format="jpeg"))
        return [json.dumps(result, ensure_ascii=False), *pictures]

    @mcp.tool()
    @explained
    async def ask(question: str, method: str = "vimrag", workspace: str | None = None) -> dict[str, Any]:
        """Answer a question from the memory with citations (the VimRAG agent; methods: vimrag, react,
        summary, rag). Takes seconds to minutes with the embedded model."""
        service.enter_line()
        return dict(await anyio.to_thread.run_sync(
            lambda: service.ask(question, method, entered=True, workspace=workspace)))

    @mcp.tool()
    @explained
    async def ingest(paths: list[str], wait_s: float = 600.0, workspace: str | None = None) -> dict[str, Any]:
        """Ingest files or folders that lie under the server's ingest roots; waits up to `wait_s` seconds
        for the per-file report (else returns the job's progress; poll with `sources`). `workspace`: the
        corpus to add them to (created if new)."""
        job = service.ingest_paths(paths, workspace)
        deadline = time.monotonic() + max(0.0, wait_s)
        while job.finished is None and time.monotonic() < deadline:
            await anyio.sleep(0.2)
        return job.to_json()

    @mcp.tool()
    @explained
    async def remove(source: str, workspace: str | None = None) -> dict[str, Any]:
        """Forget one ingested source (exactly as `sources` lists it) with everything derived from it."""
        n = await anyio.to_thread.run_sync(service.remove, source, workspace)
        return {"source": source, "removed": n}

    @mcp.tool()
    @explained
    async def sources(workspace: str | None = None) -> dict[str, Any]:
        """The files the memory holds, with their item counts."""
        return {"sources": await anyio.to_thread.run_sync(service.sources, workspace)}

    @mcp.tool()
    @explained
    async def workspaces() -> dict[str, Any]:
        """The corpora (workspaces) of this memory; every other tool takes `workspace` to pick one."""
        return {"workspaces": await anyio.to_thread.run_sync(service.workspaces),
                "default": service.config.store.workspace}

    return mcp
