"""Structure guards: no import cycle in ``src/vimrag`` (lazy and TYPE_CHECKING imports included).

A cycle is found from the source text (``ast``), not by importing, so an import inside a function or an
``if TYPE_CHECKING:`` block counts like any other: such imports hide a cycle, they do not remove it.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for path in (SRC / "vimrag").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def import_graph() -> dict[str, set[str]]:
    """module → the vimrag modules it imports (``from pkg import mod`` points at ``pkg.mod``)."""
    mods = _modules()

    def owner(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for name in names:
                target = owner(name) if name.split(".")[0] == "vimrag" else None
                if target and target != mod:
                    graph[mod].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_vimrag() -> None:
    graph = import_graph()
    assert len(graph) > 50 and "vimrag.agent.graph" in graph["vimrag.agent.budget"]
    assert cycles(graph) == []


#: Layers, lowest first; a module may import from its own layer and the ones below, never from above.
#: (docs/design-notes.md, "Layering", draws the same picture.)
LAYERS: list[set[str]] = [
    {"errors", "types", "_extras", "_cache", "config", "progress"},  # foundation: no vimrag imports above it
    {"models", "ingest", "index", "demo"},  # model backends, file loaders, the exact index engine
    {"store"},  # LanceDB / PostgreSQL engines (LanceDB uses the index)
    {"polar"},  # PolarMem the algorithm: partition, concepts, query parsing, build, retrieval
    {"ingestion", "ingestion_ray", "memory"},  # long-term memory: the Memory facade and its ingest pipeline
    {"agent"},  # VimRAG: the loop, its methods, the memory graph, the budget
    {"ask", "vimrag"},  # the public API (vimrag.Agent over vimrag.Memory)
    {"eval", "train", "testing", "server"},  # evaluation harness, GGPO training, test oracles, the service
    {"cli", "__main__"},  # the command line
]


def _layer(module: str) -> int:
    part = module.split(".")[1] if "." in module else "vimrag"
    for i, names in enumerate(LAYERS):
        if part in names:
            return i
    raise AssertionError(f"{module} belongs to no layer: add its package to LAYERS")


def test_no_module_imports_from_a_layer_above_it() -> None:
    upward = [f"{a} (layer {_layer(a)}) imports {b} (layer {_layer(b)})"
              for a, targets in import_graph().items() for b in sorted(targets) if _layer(b) > _layer(a)]
    assert upward == []
