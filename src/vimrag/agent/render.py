"""Views of a trajectory: a rich tree for the terminal and a self-contained HTML page with an SVG DAG.

The HTML embeds everything (styles, the SVG, thumbnails as data URLs), so one file can be mailed or
attached to a report. Node colour follows the best memorize score of the node (grey: nothing kept or
not perceived; red → green: score 1 → 5); items carry their PolarMem state.
"""

from __future__ import annotations

import base64
import html
import mimetypes
from pathlib import Path
from typing import Any

from vimrag.agent.trajectory import Trajectory
from vimrag.store.media import FolderMedia, MediaBase

_SCORE_COLOURS = {1: "#e57373", 2: "#ffb74d", 3: "#fff176", 4: "#aed581", 5: "#66bb6a"}
_STATE_COLOURS = {"verified": "#2e7d32", "uncertain": "#8d6e63", "conflict": "#c62828"}


def _best_score(node: dict[str, Any]) -> int | None:
    scores = [e["score"] for e in node.get("bank", []) if e.get("saliency") and e.get("score") is not None]
    return max(scores) if scores else None


def _loc(locator: dict[str, Any]) -> str:
    parts = []
    if "page" in locator:
        parts.append(f"p.{locator['page']}")
    if "start" in locator:
        parts.append(f"{locator['start']:.1f}–{locator.get('end', locator['start']):.1f}s")
    if locator.get("keyframes"):
        parts.append("kf " + ",".join(f"{t:.1f}" for t in locator["keyframes"]))
    box = _box(locator.get("box"))
    if box:
        parts.append("box " + ",".join(f"{10 * v:.0f}" for v in box))
    if "chunk" in locator and not parts:
        parts.append(f"chunk {locator['chunk']}")
    return " ".join(parts)


def render_tree(trajectory: Trajectory) -> Any:
    """A ``rich.tree.Tree``: question → nodes (by first parent) → kept evidence; then answer and citations."""
    from rich.markup import escape as e_
    from rich.tree import Tree

    t = trajectory
    tree = Tree(f"[bold]{e_(t.question)}[/]  [dim]({t.method}, {t.steps_taken} steps, "
                f"{t.tokens['prompt']}+{t.tokens['completion']} tokens, {t.invalid_retrievals} repeats)[/]")
    branches: dict[int, Any] = {0: tree}
    for node in t.nodes[1:]:
        parent = branches.get(node["parents"][0] if node["parents"] else 0, tree)
        extra = f" [dim](also ← {', '.join(f'n{p}' for p in node['parents'][1:])})[/]" if len(node["parents"]) > 1 else ""
        score = _best_score(node)
        colour = "green" if score and score >= 4 else "yellow" if score else "white"
        br = parent.add(f"[{colour}]n{node['id']}[/] [italic]{e_(node['query'])}[/]{extra}: "
                        f"{e_(node['summary'] or '—')}")
        branches[node["id"]] = br
        for i, e in enumerate(node["bank"], start=1):
            if not e.get("saliency"):
                continue
            s = e.get("score")
            br.add(f"\\[{i}] [{_STATE_COLOURS.get(e['state'], 'white')}]{e_(str(e['state']))}[/] "
                   f"{e_(Path(e['source']).name)} {e_(_loc(e['locator']))}" + (f" p={s}" if s is not None else ""))
    ans = tree.add(f"[bold cyan]answer:[/] {e_(t.answer or '(none)')}"
                   + (f" [dim](node n{t.answer_node})[/]" if t.answer_node is not None else ""))
    for c in t.citations:
        ans.add(f"{e_(str(c['source']))} {e_(_loc(c['locator']))}")
    return tree


def _layers(nodes: list[dict[str, Any]]) -> dict[int, int]:
    """Layer of a node = 1 + max layer of its parents (longest path from the root)."""
    layer: dict[int, int] = {}
    for n in nodes:  # ids increase, parents come first
        layer[n["id"]] = 0 if not n["parents"] else 1 + max(layer.get(p, 0) for p in n["parents"])
    return layer


def render_svg(trajectory: Trajectory) -> str:
    """The DAG as inline SVG with a simple layered layout (top to bottom)."""
    nodes = trajectory.nodes
    layer = _layers(nodes)
    rows: dict[int, list[int]] = {}
    for nid, ly in sorted(layer.items()):
        rows.setdefault(ly, []).append(nid)
    w, h, gx, gy = 150, 46, 30, 50
    width = max(len(r) for r in rows.values()) * (w + gx) + gx if rows else w
    pos: dict[int, tuple[float, float]] = {}
    for ly, ids in rows.items():
        offset = (width - len(ids) * (w + gx) + gx) / 2
        for j, nid in enumerate(ids):
            pos[nid] = (offset + j * (w + gx), gy / 2 + ly * (h + gy))
    height = (max(rows) + 1) * (h + gy) if rows else h + gy
    answer_path: set[int] = set()
    if trajectory.answer_node is not None:
        stack: list[int] = [trajectory.answer_node]
        while stack:
            cur = stack.pop()
            if cur not in answer_path and 0 <= cur < len(nodes):
                answer_path.add(cur)
                stack.extend(nodes[cur]["parents"])
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="11">',
           '<defs><marker id="arr" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" '
           'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>']
    for n in nodes:
        for p in n["parents"]:
            if p in pos and n["id"] in pos:
                x1, y1 = pos[p][0] + w / 2, pos[p][1] + h
                x2, y2 = pos[n["id"]][0] + w / 2, pos[n["id"]][1]
                on = p in answer_path and n["id"] in answer_path
                out.append(f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" '
                           f'stroke="{"#1565c0" if on else "#555"}" stroke-width="{3 if on else 1.2}" marker-end="url(#arr)"/>')
    for n in nodes:
        x, y = pos[n["id"]]
        score = _best_score(n)
        fill = "#90caf9" if n["id"] == 0 else _SCORE_COLOURS.get(score or 0, "#e0e0e0")
        border = "#1565c0" if n["id"] in answer_path else "#424242"
        label = "question" if n["id"] == 0 else n["query"]
        label = label if len(label) <= 24 else label[:23] + "…"
        out.append(f'<g><title>{html.escape(n["summary"] or n["query"])}</title>'
                   f'<rect x="{x:.0f}" y="{y:.0f}" width="{w}" height="{h}" rx="8" fill="{fill}" '
                   f'stroke="{border}" stroke-width="{2.5 if n["id"] in answer_path else 1}"/>'
                   f'<text x="{x + 8:.0f}" y="{y + 17:.0f}" font-weight="bold">n{n["id"]}'
                   + (f" · p={score}" if score else "") + "</text>"
                   f'<text x="{x + 8:.0f}" y="{y + 34:.0f}">{html.escape(label)}</text></g>')
    out.append("</svg>")
    return "\n".join(out)


def _data_url(media: MediaBase, name: str) -> str | None:
    """The media ``name`` as a data URL — only a name the store's media hold (a folder refuses paths that
    lead outside it): a trajectory is data from outside, and ``/etc/shadow`` or ``../../x`` must never be
    embedded."""
    data = media.read(name)
    if data is None:
        return None
    mime = mimetypes.guess_type(name)[0] or "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


_CSS = """body{font-family:sans-serif;margin:24px;color:#222}h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}
.node{border:1px solid #bbb;border-radius:8px;padding:8px 12px;margin:10px 0}.ev{margin:6px 0;font-size:12px}
.ev img{max-height:96px;max-width:160px;vertical-align:top;margin-right:8px;border:1px solid #ccc}
.region{position:relative;display:inline-block;margin-right:8px}.region img{margin:0;display:block}
.region .box{position:absolute;border:2px solid #e5484d}
.verified{color:#2e7d32}.uncertain{color:#8d6e63}.conflict{color:#c62828}.dim{color:#888}
pre{white-space:pre-wrap;font-size:11px;background:#f6f6f6;padding:6px;max-height:240px;overflow:auto}"""


def _box(value: Any) -> tuple[float, float, float, float] | None:
    """A locator's 0–1000 box as percentages, or None when it is not four numbers (a trajectory is data
    from outside: nothing but numbers reaches the style attribute)."""
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        return None
    try:
        x1, y1, x2, y2 = (max(0.0, min(1000.0, float(v))) / 10 for v in value)
    except (TypeError, ValueError):
        return None
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None


def render_html(trajectory: Trajectory, media_root: MediaBase | str | Path | None = None) -> str:
    """A self-contained page: the DAG (SVG), per-node evidence with thumbnails, the allocation, the steps.

    ``media_root``: the memory's media (``Memory.media``) or a media folder."""
    t = trajectory
    esc = html.escape
    media = t.meta.get("media", {}) if isinstance(t.meta, dict) else {}
    root = (FolderMedia(Path(media_root), create=False) if isinstance(media_root, (str, Path))
            else media_root)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(t.question)}</title>"
             f"<style>{_CSS}</style></head><body>",
             f"<h1>{esc(t.question)}</h1>",
             f"<p><b>Answer:</b> {esc(t.answer or '(none)')} <span class='dim'>— {esc(t.method)}, "
             f"{t.steps_taken} steps, {t.tokens['prompt']} prompt + {t.tokens['completion']} completion tokens, "
             f"{t.invalid_retrievals} repeated retrievals, {t.wall_s:.1f} s</span></p>"]
    if t.citations:
        parts.append("<p><b>Citations:</b> " + "; ".join(
            f"{esc(c['source'])} <span class='dim'>{esc(_loc(c['locator']))}</span>" for c in t.citations) + "</p>")
    parts += ["<h2>Memory graph</h2>", render_svg(t), "<h2>Nodes and evidence</h2>"]
    for n in t.nodes[1:]:
        parts.append(f"<div class='node'><b>n{n['id']}</b> ← {', '.join(f'n{p}' for p in n['parents'])} "
                     f"<i>{esc(n['query'])}</i> <span class='dim'>(step {n['step']})</span>"
                     f"<div>{esc(n['summary'] or '—')}</div>")
        for i, e in enumerate(n["bank"], start=1):
            img = ""
            rel = media.get(e["item_id"])
            if rel and root is not None:
                url = _data_url(root, rel)
                if url:
                    img = f"<img src='{url}' alt='{esc(e['item_id'])}'>"
                    box = _box((e.get("locator") or {}).get("box"))
                    if box:  # a region of the page (0–1000): draw it on the page
                        x1, y1, x2, y2 = box
                        img = (f"<span class='region'>{img}<span class='box' style='left:{x1:.1f}%;top:{y1:.1f}%;"
                               f"width:{x2 - x1:.1f}%;height:{y2 - y1:.1f}%'></span></span>")
            kept = "kept" if e.get("saliency") else "dropped"
            score = f", p={e['score']}" if e.get("score") is not None else ""
            parts.append(f"<div class='ev'>{img}[{n['id']}.{i}] <span class='{esc(e['state'])}'>{esc(e['state'])}</span> "
                         f"<span class='dim'>{kept}{score}, sim {e['similarity']:.3f}</span> "
                         f"{esc(Path(e['source']).name)} {esc(_loc(e['locator']))}<br>{esc(e['text'])}</div>")
        parts.append("</div>")
    if t.allocation:
        parts.append("<h2>Visual token allocation (Ω)</h2><table><tr><th>node</th><th>item</th><th>Ω</th>"
                     "<th>tokens</th><th>max pixels</th></tr>")
        for a in t.allocation:
            parts.append(f"<tr><td>n{a['node']}</td><td>{esc(a['item_id'])}</td><td>{a['omega']:.3f}</td>"
                         f"<td>{a['tokens']}</td><td>{a['max_pixels']}</td></tr>")
        parts.append("</table>")
    parts.append("<h2>Steps</h2><table><tr><th>#</th><th>action</th><th>node</th><th>tokens</th><th>s</th>"
                 "<th>completion</th></tr>")
    for s in t.steps:
        flag = " (repeat)" if s.repeat else ""
        err = f"<br><span class='conflict'>{esc(s.error)}</span>" if s.error else ""
        parts.append(f"<tr><td>{s.index}</td><td>{esc(s.action)}{flag}</td><td>{'' if s.node is None else 'n' + str(s.node)}</td>"
                     f"<td>{s.prompt_tokens}+{s.completion_tokens}</td><td>{s.seconds:.1f}</td>"
                     f"<td><pre>{esc(s.completion)}</pre>{err}</td></tr>")
    parts.append("</table></body></html>")
    return "\n".join(parts)
