"""The REST API, the Server-Sent Events stream of the agent, the MCP endpoint and the web page (FastAPI).

Routes (a contract): ``GET /health`` (no auth), ``POST /search``, ``POST /ask``, ``POST /ask/stream``,
``POST /ingest`` (multipart files, or ``{"paths": [...]}`` under ``server.ingest_roots``), ``GET /jobs/ID``,
``GET /sources``, ``DELETE /sources``, ``GET /media/ID``, ``GET /trajectories/ID``, ``/mcp`` (MCP
streamable HTTP), ``/`` (the page), ``/docs`` (OpenAPI). With a token, every route but ``/health`` and the
page's static files needs ``Authorization: Bearer TOKEN``. Errors are JSON ``{"error": "..."}``.

Workspaces (issue 17): ``GET /workspaces`` lists them; every other route serves the configured one unless
told otherwise — ``"workspace"`` in a JSON body (search, ask, ingest of paths, delete), ``?workspace=`` on
``GET`` routes and on a multipart upload. An unknown workspace is a 404 for reads; an ingest creates it.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the route signatures at run time, and the
# request models are local to create_app (pydantic is imported only when the server starts).
import asyncio
import hmac
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from vimrag._extras import require
from vimrag.errors import ModelUnavailableError, ServerUnreachableError, StoreError, VimragError
from vimrag.server.paths import Forbidden
from vimrag.server.service import Busy, NotFound, Service

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# Reachable without the token: the liveness probe and the page's own files (the page asks for the token).
_OPEN = ("/health", "/", "/favicon.ico", "/docs", "/openapi.json")
_OPEN_PREFIX = ("/static/", "/docs-assets/")


class PayloadTooLarge(VimragError):
    """The request body is larger than ``server.max_upload_mb`` (HTTP 413)."""


async def _send_json(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] = ()) -> None:  # type: ignore[assignment]
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": data})


class Guard:
    """ASGI middleware: the bearer token on every non-open route, and the body-size limit on ``/ingest``."""

    def __init__(self, app: Any, token: str, max_body: int) -> None:
        self.app, self.token, self.max_body = app, token.encode(), max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if self.token and path not in _OPEN and not path.startswith(_OPEN_PREFIX):
            headers = dict(scope.get("headers") or [])
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, b"Bearer " + self.token):
                await _send_json(send, 401, {"error": "missing or wrong token: send Authorization: Bearer TOKEN"},
                                 [(b"www-authenticate", b"Bearer")])
                return
        if path == "/ingest":
            length = dict(scope.get("headers") or []).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body:
                await _send_json(send, 413, {"error": f"upload larger than {self.max_body >> 20} MB "
                                             "(server.max_upload_mb)"})
                return
            receive = self._counting(receive)
        await self.app(scope, receive, send)

    def _counting(self, receive: Receive) -> Receive:
        seen = 0

        async def wrapped() -> Message:
            nonlocal seen
            msg = await receive()
            seen += len(msg.get("body", b""))
            if seen > self.max_body:  # a chunked body that never said its length
                raise PayloadTooLarge(f"upload larger than {self.max_body >> 20} MB (server.max_upload_mb)")
            return msg

        return wrapped


def create_app(service: Service) -> Any:
    """The FastAPI application over ``service`` (with the MCP server mounted at ``/mcp``)."""
    require("fastapi", "server")
    from fastapi import Body, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
    from fastapi.staticfiles import StaticFiles
    from pydantic import BaseModel, Field
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from vimrag.server.mcp_tools import build_mcp

    cfg = service.config.server
    mcp = build_mcp(service)
    mcp_app = mcp.streamable_http_app(streamable_http_path="/mcp", stateless_http=True, json_response=True,
                                      host=cfg.host)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with mcp.session_manager.run():
            yield

    # OpenAPI at /docs with Swagger UI from the fastapi-offline package: FastAPI's own page loads it from a
    # CDN, which a machine without internet (or a careful user) does not reach.
    offline = require("fastapi_offline", "server")
    app = offline.FastAPIOffline(title="vimrag", version=_version(), lifespan=lifespan, redoc_url=None,
                                 static_url="/docs-assets",
                                 description="Multimodal retrieval-augmented reasoning with graph memory.")
    search_slots = threading.BoundedSemaphore(max(1, cfg.search_threads))

    def error(status: int, message: str, **headers: str) -> Any:
        return JSONResponse({"error": message}, status_code=status, headers=headers or None)

    @app.exception_handler(VimragError)
    async def _vimrag_error(request: Request, exc: VimragError) -> Any:
        if isinstance(exc, Busy):
            return error(429, str(exc), **{"Retry-After": str(exc.retry_after)})
        status = {Forbidden: 403, NotFound: 404, PayloadTooLarge: 413}.get(type(exc))
        if status is None:
            status = 503 if isinstance(exc, (ModelUnavailableError, ServerUnreachableError, StoreError)) else 400
        return error(status, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Any:
        return error(exc.status_code, str(exc.detail), **(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Any:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error(422, f"invalid request: {where or 'body'}: {first.get('msg', 'malformed')}")

    workspace_field = Field(None, min_length=1, max_length=64)

    class SearchBody(BaseModel):
        query: str = Field(min_length=1, max_length=10_000)
        k: int = Field(10, ge=1, le=1000)
        strict: bool = False
        workspace: str | None = workspace_field

    class AskBody(BaseModel):
        question: str = Field(min_length=1, max_length=10_000)
        method: str | None = None
        workspace: str | None = workspace_field

    class PathsBody(BaseModel):
        paths: list[str] = Field(min_length=1, max_length=10_000)
        workspace: str | None = workspace_field

    class SourceBody(BaseModel):
        source: str = Field(min_length=1)
        workspace: str | None = workspace_field

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return await run_in_threadpool(service.health)

    @app.post("/search")
    async def search(body: SearchBody) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            with search_slots:
                return service.search(body.query, body.k, body.strict, body.workspace)
        return await run_in_threadpool(run)

    @app.get("/workspaces")
    async def list_workspaces() -> dict[str, Any]:
        return {"workspaces": await run_in_threadpool(service.workspaces),
                "default": service.config.store.workspace}

    @app.post("/ask")
    async def ask(body: AskBody) -> dict[str, Any]:
        service.enter_line()  # a full line is refused now, not after waiting
        return await run_in_threadpool(lambda: service.ask(body.question, body.method, None, entered=True,
                                                           workspace=body.workspace))

    @app.post("/ask/stream")
    async def ask_stream(body: AskBody) -> Any:
        service.enter_line()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()

        def on_step(kind: str, payload: dict[str, Any]) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, payload))

        def run() -> None:
            try:
                result = service.ask(body.question, body.method, on_step, entered=True, workspace=body.workspace)
                loop.call_soon_threadsafe(queue.put_nowait, ("answer", result))
            except VimragError as exc:
                loop.call_soon_threadsafe(queue.put_nowait, ("error", {"error": str(exc)}))
            except Exception as exc:  # the stream must end with a reason, not hang; the server log has the rest
                loop.call_soon_threadsafe(queue.put_nowait, ("error", {"error": f"{type(exc).__name__}: {exc}"}))
                raise
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        async def events() -> AsyncIterator[bytes]:
            worker = loop.run_in_executor(None, run)
            while (item := await queue.get()) is not None:
                kind, payload = item
                yield f"event: {kind}\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()
            await asyncio.gather(worker, return_exceptions=True)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/ingest")
    async def ingest(request: Request, workspace: str | None = None) -> dict[str, Any]:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            form = await request.form(max_files=10_000)
            files = [(f.filename, f.file) for _, f in form.multi_items() if not isinstance(f, str)]
            job = await run_in_threadpool(service.ingest_uploads, files, workspace)
        else:
            try:
                raw = await request.json()
            except ValueError:
                raise VimragError('send multipart files, or JSON {"paths": [...]}') from None
            body = PathsBody.model_validate(raw) if isinstance(raw, dict) else None
            if body is None:
                raise VimragError('send multipart files, or JSON {"paths": [...]}')
            job = await run_in_threadpool(service.ingest_paths, body.paths, body.workspace or workspace)
        return {"job": job.id}

    @app.get("/jobs/{job_id}")
    async def job(job_id: str) -> dict[str, Any]:
        j = service.writer.job(job_id)
        if j is None:
            raise NotFound(f"no job {job_id!r}")
        return j.to_json()

    @app.get("/sources")
    async def sources(workspace: str | None = None) -> dict[str, Any]:
        return {"sources": await run_in_threadpool(service.sources, workspace)}

    @app.delete("/sources")
    async def remove(body: SourceBody = Body(...)) -> dict[str, Any]:  # noqa: B008 (FastAPI's idiom)
        n = await run_in_threadpool(service.remove, body.source, body.workspace)
        return {"source": body.source, "removed": n}

    @app.get("/media/{item_id}")
    async def media(item_id: str, frame: int | None = None, workspace: str | None = None) -> Any:
        data = await run_in_threadpool(service.media_bytes, item_id, frame, workspace)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/trajectories/{trajectory_id}")
    async def trajectory(trajectory_id: str) -> Any:
        path = await run_in_threadpool(service.trajectory, trajectory_id)
        return FileResponse(path, media_type="application/json")

    static = resources.files("vimrag.server") / "static"

    @app.get("/", response_class=HTMLResponse)
    async def page() -> Any:
        return HTMLResponse((static / "index.html").read_text(encoding="utf-8"),
                            headers={"Content-Security-Policy": _CSP})

    app.mount("/static", StaticFiles(packages=[("vimrag.server", "static")]), name="static")
    app.router.routes.extend(mcp_app.routes)  # the SDK's /mcp route (no auth of its own: Guard checks the token)
    return Guard(app, cfg.token, cfg.max_upload_mb << 20)


# The page loads only its own script and style, and images from this server (blob: for those fetched
# with the token): an injected <script> or inline handler would not run even if escaping failed.
_CSP = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vimrag")
    except PackageNotFoundError:
        return "0"
