from __future__ import annotations

import json
import re

from rich.console import Console

from vimrag.agent.loop import AgentLoop as Agent
from vimrag.agent.render import render_html, render_svg, render_tree


def _run(corpus, config, scripted):
    llm = scripted([
        json.dumps({"action": "retrieve", "query": "cup coffee", "parents": [0]}),
        json.dumps({"action": "memorize", "summary": "A cup; a barista pours coffee.", "keep": [1, 2],
                    "scores": {"1": 4, "2": 5}}),
        json.dumps({"action": "retrieve", "query": "director of Jaws", "parents": [0, 1]}),
        json.dumps({"action": "memorize", "summary": "Spielberg.", "keep": [1], "scores": {"1": 2}}),
        json.dumps({"action": "answer", "answer": "a cup", "cite": ["1.2"]}),
    ])
    return Agent(llm, corpus, config).ask("What is on the table?", method="vimrag").record


def test_tree_shows_nodes_evidence_and_answer(corpus, config, scripted):
    traj = _run(corpus, config, scripted)
    console = Console(record=True, width=160)
    console.print(render_tree(traj))
    text = console.export_text()
    assert "What is on the table?" in text and "n1 cup coffee" in text and "n2 director of Jaws" in text
    assert "also ← n1" in text  # the second parent of n2 is shown
    assert "answer: a cup" in text and "photos/coffee.png" in text


def test_svg_is_a_layered_dag(corpus, config, scripted):
    traj = _run(corpus, config, scripted)
    svg = render_svg(traj)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert svg.count("<rect") == 3 and svg.count("<line") == 3  # edges 0→1, 0→2, 1→2
    ys = [float(y) for y in re.findall(r'<rect x="[\d.]+" y="([\d.]+)"', svg)]
    assert ys[0] < ys[1] < ys[2]  # n2 depends on n1, so it sits a layer below it


def test_html_is_self_contained_with_thumbnails(corpus, config, scripted, tmp_path):
    traj = _run(corpus, config, scripted)
    page = render_html(traj, media_root=corpus.root)
    assert page.startswith("<!doctype html>") and "<svg" in page
    with_media = sum(1 for n in traj.nodes for e in n["bank"] if e["item_id"] in traj.meta["media"])
    assert with_media >= 2 and page.count("data:image/png;base64,") == with_media  # photo and video keyframe
    assert "Visual token allocation" in page and "<td>n1</td>" in page
    assert 'src="http' not in page and "src='http" not in page
    assert "A cup; a barista pours coffee." in page
    # without the media folder the page still renders, just without thumbnails
    assert "data:image" not in render_html(traj, media_root=tmp_path / "missing")


def test_html_never_embeds_a_file_outside_the_media_folder(corpus, config, scripted, tmp_path):
    """A trajectory is outside data: media names like /etc/passwd or ../secret must not be embedded."""
    traj = _run(corpus, config, scripted)
    secret = tmp_path / "secret.png"
    secret.write_bytes((corpus.root / "media" / "coffee.png").read_bytes())
    ids = list(traj.meta["media"])
    traj.meta["media"] = {ids[0]: str(secret), ids[1]: "../secret.png"}
    media = tmp_path / "store" / "media"
    media.mkdir(parents=True)
    assert "data:image" not in render_html(traj, media_root=media)


def test_tree_shows_brackets_in_model_text_literally(corpus, config, scripted):
    from rich.console import Console

    traj = _run(corpus, config, scripted)
    traj.answer = "see [/etc] and [red]x[/red]"
    console = Console(record=True, width=200)
    console.print(render_tree(traj))  # a MarkupError here would lose the answer
    assert "see [/etc] and [red]x[/red]" in console.export_text()


def test_html_draws_a_region_box_and_only_numbers_reach_the_style(corpus, config, scripted):
    """A table cited by page and box is drawn on its page; a hostile box in a trajectory is ignored."""
    traj = _run(corpus, config, scripted)
    entry = traj.nodes[1]["bank"][0]
    assert entry["item_id"] in traj.meta["media"]
    entry["locator"] = {"page": 2, "box": [48, 67, 952, 198]}
    page = render_html(traj, media_root=corpus.root)
    assert "class='box' style='left:4.8%;top:6.7%;width:90.4%;height:13.1%'" in page
    entry["locator"] = {"page": 2, "box": ["1;background:url(http://x)", 0, 5, 5]}
    hostile = render_html(traj, media_root=corpus.root)
    assert hostile.count("class='box'") == page.count("class='box'") - 1
    assert not any("url" in style for style in re.findall(r"style='([^']*)'", hostile))


def test_a_pdf_table_is_shown_on_its_page() -> None:
    from vimrag.store.media import shown_media
    from vimrag.types import Item, Locator, Modality, item_id

    table = Item("t", "r.pdf", "h", Modality.TEXT, Locator(page=2, box=(48, 67, 952, 198), chunk=0), "x",
                 meta={"format": "pdf", "kind": "table"})
    assert shown_media(table) == f"{item_id('h', Modality.PAGE, Locator(page=2))}.jpg"
    chunk = Item("c", "n.md", "h", Modality.TEXT, Locator(chunk=0), "x", meta={"format": "markdown"})
    assert shown_media(chunk) is None
