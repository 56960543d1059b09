"""Reports of an eval run: ``results.json``, a Markdown report and a self-contained HTML report.

The HTML embeds its plots as PNG data URLs so it can be mailed or attached as one file. Plots (matplotlib,
``pip install 'vimrag[eval]'``; skipped with a note when it is missing):

- headline scores per method;
- per-category scores (e.g. MMLongBench-Doc evidence source, POPE setting, HotpotQA question type);
- the distribution of tokens per question per method (the kind of plot of VimRAG's Fig. 2);
- retrieval latency vs corpus size, read from ``benchmarks/results/*.json`` when there are any.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROCESS_COLUMNS = ("tokens", "prompt_tokens", "completion_tokens", "cached_tokens", "steps", "invalid_retrievals",
                   "seconds", "seconds_p50", "seconds_p90", "seconds_p95", "peak_rss_mb", "errors")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[str, str]:
    """The same table as Markdown and as HTML."""
    md = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    md += ["| " + " | ".join(_fmt(c) for c in r) + " |" for r in rows]
    h = "<table><thead><tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in header) + "</tr></thead><tbody>"
    h += "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in r) + "</tr>" for r in rows)
    return "\n".join(md), h + "</tbody></table>"


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def _bars(plt: Any, groups: Sequence[str], series: dict[str, Sequence[float]], title: str, ylabel: str) -> bytes:
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(groups) * max(1, len(series)) ** 0.5 + 2), 3.4))
    n = max(1, len(series))
    width = 0.8 / n
    for i, (name, vals) in enumerate(series.items()):
        xs = [g + (i - (n - 1) / 2) * width for g in range(len(groups))]
        ax.bar(xs, vals, width, label=name)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=20 if len(groups) > 4 else 0, ha="right" if len(groups) > 4 else "center")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    png = _png(fig)
    plt.close(fig)
    return png


def _token_plot(plt: Any, per_example: dict[str, list[dict[str, Any]]]) -> bytes | None:
    data = {m: [r["tokens"] for r in rows] for m, rows in per_example.items() if any(r["tokens"] for r in rows)}
    if not data:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.boxplot(list(data.values()), showmeans=True)
    ax.set_xticks(range(1, len(data) + 1))
    ax.set_xticklabels(list(data))
    ax.set_ylabel("tokens per question (prompt + completion)")
    ax.set_title("Token usage per question")
    ax.grid(axis="y", alpha=0.3)
    png = _png(fig)
    plt.close(fig)
    return png


_X_KEYS = ("corpus_size", "n_items", "items", "n", "size")
_Y_KEYS = ("p50_ms", "latency_ms", "median_ms", "mean_ms", "ms", "latency_p50_ms")
_S_KEYS = ("method", "impl", "engine", "backend", "variant", "name")


def latency_rows(bench_dir: Path) -> list[tuple[str, float, float]]:
    """(series, corpus size, latency ms) rows from benchmark JSON files, whatever their exact layout."""
    rows: list[tuple[str, float, float]] = []
    if not bench_dir.is_dir():
        return rows
    for f in sorted(bench_dir.glob("*.json")):
        try:
            data = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        recs = data.get("rows", data.get("results", [])) if isinstance(data, dict) else data
        if not isinstance(recs, list):
            continue
        for r in recs:
            if not isinstance(r, dict):
                continue
            x = next((r[k] for k in _X_KEYS if isinstance(r.get(k), (int, float))), None)
            y = next((r[k] for k in _Y_KEYS if isinstance(r.get(k), (int, float))), None)
            if x is None or y is None:
                continue
            s = next((str(r[k]) for k in _S_KEYS if r.get(k) is not None), "")
            rows.append((f"{f.stem}:{s}" if s else f.stem, float(x), float(y)))
    return rows


def _latency_plot(plt: Any, rows: list[tuple[str, float, float]]) -> bytes | None:
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.6))
    series: dict[str, list[tuple[float, float]]] = {}
    for s, x, y in rows:
        series.setdefault(s, []).append((x, y))
    for s, pts in sorted(series.items()):
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=s)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("corpus size (items)")
    ax.set_ylabel("latency per query (ms)")
    ax.set_title("Retrieval latency vs corpus size")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    png = _png(fig)
    plt.close(fig)
    return png


def _find_bench_dir() -> Path:
    for base in (Path.cwd(), Path(__file__).resolve().parents[3]):
        if (base / "benchmarks" / "results").is_dir():
            return base / "benchmarks" / "results"
    return Path.cwd() / "benchmarks" / "results"


def write_report(result: Any, per_example: dict[str, list[dict[str, Any]]],
                 bench_dir: Path | None = None) -> dict[str, str]:
    """Write results.json, report.md, report.html (and plots/*.png) into ``result.run_dir``."""
    run_dir = Path(result.run_dir)
    (run_dir / "plots").mkdir(exist_ok=True)
    results = result.to_json() | {"per_example": per_example}
    (run_dir / "results.json").write_text(json.dumps(results, indent=2, default=str))

    sections: list[tuple[str, str, str]] = []  # (title, markdown, html)
    methods = list(result.scores)
    head = [h for h in result.headline if any(h in result.scores[m] for m in methods)]
    md, h = _table(["method", *head], [[m, *[result.scores[m].get(x, float("nan")) for x in head]] for m in methods])
    sections.append(("Scores", md, h))
    allk = sorted({k for m in methods for k in result.scores[m]} - set(head))
    if allk:
        md, h = _table(["metric", *methods], [[k, *[result.scores[m].get(k, float("nan")) for m in methods]]
                                              for k in allk])
        sections.append(("All metrics", md, h))
    cats = sorted({c for m in methods for c in result.by_category.get(m, {})})
    # the first headline metric that exists per example (set-level ones such as mml_acc do not)
    per_cat = [x for m in methods for c in cats for x in result.by_category.get(m, {}).get(c, {})]
    cat_metric = next((x for x in head if x in per_cat), "acc" if "acc" in per_cat else (head[0] if head else None))
    if cat_metric and len(cats) > 1:
        md, h = _table(["category", "n", *methods], [
            [c, int(next((result.by_category[m][c]["n"] for m in methods if c in result.by_category.get(m, {})), 0)),
             *[result.by_category.get(m, {}).get(c, {}).get(cat_metric, float("nan")) for m in methods]]
            for c in cats])
        sections.append((f"By category ({cat_metric})", md, h))
    srcs = sorted({c for m in methods for c in result.by_evidence_source.get(m, {})})
    src_metric = "acc" if result.task == "qa" else cat_metric
    if srcs and src_metric:
        md, h = _table(["evidence source", "n", *methods], [
            [c, int(next((result.by_evidence_source[m][c]["n"] for m in methods
                          if c in result.by_evidence_source.get(m, {})), 0)),
             *[result.by_evidence_source.get(m, {}).get(c, {}).get(src_metric, float("nan")) for m in methods]]
            for c in srcs])
        sections.append((f"By evidence source ({src_metric}; a question counts under each of its sources)", md, h))
    md, h = _table(["method", *PROCESS_COLUMNS], [[m, *[result.process.get(m, {}).get(c, 0.0)
                                                        for c in PROCESS_COLUMNS]] for m in methods])
    sections.append(("Process (per question; peak RSS is the process peak so far)", md, h))
    if result.skipped:
        md, h = _table(["method", "why skipped"], list(result.skipped.items()))
        sections.append(("Skipped", md, h))

    plots: list[tuple[str, bytes]] = []
    plt = _pyplot()
    note = "" if plt is not None else "Plots need matplotlib: pip install 'vimrag[eval]'."
    if plt is not None and methods:
        if head:
            plots.append(("scores", _bars(plt, head, {m: [result.scores[m].get(x, 0.0) for x in head] for m in methods},
                                          "Scores per method", "score")))
        if cat_metric and len(cats) > 1:
            plots.append(("categories", _bars(plt, cats, {m: [result.by_category.get(m, {}).get(c, {}).get(
                cat_metric, 0.0) for c in cats] for m in methods}, f"{cat_metric} by category", cat_metric)))
        tok = _token_plot(plt, per_example)
        if tok:
            plots.append(("tokens", tok))
        lat = _latency_plot(plt, latency_rows(bench_dir or _find_bench_dir()))
        if lat:
            plots.append(("latency", lat))
    for name, png in plots:
        (run_dir / "plots" / f"{name}.png").write_bytes(png)

    title = f"vimrag eval · {result.dataset}"
    intro = (f"{result.n_examples} examples · task {result.task} · methods {', '.join(result.methods)} · "
             f"seed {result.meta.get('seed')} · k {result.meta.get('k')}")
    md_parts = [f"# {title}", "", intro, ""]
    html_parts = [f"<h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p>"]
    for t, md_s, html_s in sections:
        md_parts += [f"## {t}", "", md_s, ""]
        html_parts.append(f"<h2>{html.escape(t)}</h2>{html_s}")
    if plots or note:
        md_parts += ["## Plots", ""]
        html_parts.append("<h2>Plots</h2>")
        for name, png in plots:
            md_parts.append(f"![{name}](plots/{name}.png)")
            url = "data:image/png;base64," + base64.b64encode(png).decode()
            html_parts.append(f'<figure><img alt="{name}" src="{url}"/></figure>')
        if note:
            md_parts.append(note)
            html_parts.append(f"<p>{html.escape(note)}</p>")
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;"
             "text-align:right}td:first-child,th:first-child{text-align:left}img{max-width:100%}")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(html_parts)}</body></html>")
    (run_dir / "report.md").write_text("\n".join(md_parts) + "\n")
    (run_dir / "report.html").write_text(page)
    return {"results": str(run_dir / "results.json"), "report_md": str(run_dir / "report.md"),
            "report_html": str(run_dir / "report.html")}
