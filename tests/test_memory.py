"""Memory end to end with the real embedded models: idempotent, incremental ingest, per-file errors that
lose nothing, atomic removal, and logic-aware search over real photos (skimage's coffee/astronaut/cat)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vimrag import Memory, load_config
from vimrag.types import LogicState

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    skimage_data = pytest.importorskip("skimage").data
    root = tmp_path_factory.mktemp("corpus")
    src = Path(skimage_data.__file__).parent
    for name in ("coffee.png", "astronaut.png", "chelsea.png"):
        shutil.copyfile(src / name, root / name)
    (root / "notes.md").write_text("# Notes\n\nThe espresso machine in the lab was repaired on Tuesday.\n")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # a PNG header and nothing else
    (root / "empty.txt").write_text("")
    return root


@pytest.fixture(scope="module")
def memory(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Memory:
    store = tmp_path_factory.mktemp("store") / "mem"
    mem = Memory(load_config(overrides={"store.uri": str(store), "ingest.ocr": "false"}, env={}))
    report = mem.add([corpus], progress=False)
    mem.first_report = report  # type: ignore[attr-defined]
    return mem


def test_bad_files_are_reported_and_the_rest_is_stored(memory: Memory, corpus: Path) -> None:
    report = memory.first_report  # type: ignore[attr-defined]
    failed = {Path(f.path).name: f.reason for f in report.failed}
    assert set(failed) == {"broken.png", "empty.txt"}
    assert all(reason for reason in failed.values())
    assert report.added == 4
    assert set(Path(s).name for s in memory.sources()) == {"coffee.png", "astronaut.png", "chelsea.png", "notes.md"}


def test_reingest_is_idempotent_and_changes_replace(memory: Memory, corpus: Path) -> None:
    before = memory.stats()["items"]
    again = memory.add([corpus], progress=False)
    assert again.unchanged == 4 and again.added == 0
    assert memory.stats()["items"] == before
    (corpus / "notes.md").write_text("# Notes\n\nThe espresso machine was replaced by a kettle.\n")
    changed = memory.add([corpus / "notes.md"], progress=False)
    assert changed.replaced == 1
    texts = [i.text for i in memory.store.iter_items() if i.source.endswith("notes.md")]
    assert texts and all("kettle" in t for t in texts)


def test_a_file_embedded_by_an_older_layout_is_embedded_again_without_perception(
        memory: Memory, corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """z_sem's input layout is recorded per source (EMBED_FORMAT): a source built before a change of it is
    re-embedded from its stored items by the next ingest — no perceiver or NER — instead of silently mixing
    two layouts."""
    from vimrag.polar.build import EMBED_FORMAT

    src = next(s for s in memory.sources() if s.endswith("coffee.png"))
    rec = memory.store.sources()[src]
    items = memory.store.items_of(src)
    assert items and all(i.source == src for i in items)
    want = [i.vector.copy() for i in items]
    for i in items:
        i.vector = i.vector[::-1].copy()  # as an older layout embedded it
    rec.meta.pop("embed_format", None)  # as an older version wrote it
    memory.store.replace_source(rec, items)
    fresh = Memory(memory.config)

    def no_model(self: Memory) -> None:
        raise AssertionError("a file was perceived again to re-embed it")

    for name in ("perceiver", "entity_extractor"):
        monkeypatch.setattr(Memory, name, property(no_model))
    again = fresh.add([corpus], progress=False)
    fresh.close()
    memory.store.refresh()  # another Memory wrote: this one's store re-reads the committed state
    assert again.replaced == 1 and again.unchanged == 3
    assert memory.store.sources()[src].meta["embed_format"] == EMBED_FORMAT
    for old, new in zip(want, memory.store.items_of(src), strict=True):
        assert float(old @ new.vector) > 0.999  # the same vector as a fresh ingest gives


def test_reingesting_an_unchanged_folder_loads_no_model(memory: Memory, corpus: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Unchanged files are known by their content hash: no perceiver, embedder or NER is built for them."""
    fresh = Memory(memory.config)

    def no_model(self: Memory) -> None:
        raise AssertionError("a model was loaded for an unchanged folder")

    for name in ("perceiver", "embedder", "entity_extractor"):
        monkeypatch.setattr(Memory, name, property(no_model))
    report = fresh.add([corpus], progress=False)
    assert report.unchanged == 4 and report.added == 0 and report.replaced == 0
    fresh.close()


def test_negative_query_never_ranks_a_person_above_the_cup(memory: Memory) -> None:
    res = memory.search("a photo with a cup but no person", k=3)
    assert "person" in res.negative
    top = res.hits[0]
    assert Path(top.item.source).name == "coffee.png"
    assert top.state == LogicState.VERIFIED
    states = [h.state for h in res.hits]
    assert states == sorted(states, reverse=True)
    for h in res.hits + res.excluded:
        if Path(h.item.source).name == "astronaut.png":
            assert h.state == LogicState.CONFLICT and "person" in h.explanation


def test_media_thumbnails_are_written_and_loadable(memory: Memory) -> None:
    cat = memory.search("a cat", k=1).hits[0].item
    assert Path(cat.source).name == "chelsea.png"
    img = memory.load_image(cat)
    assert img is not None and max(img.size) <= memory.config.ingest.thumb_px


def test_removing_one_copy_keeps_the_other_copys_thumbnail(memory: Memory, corpus: Path, tmp_path: Path) -> None:
    copy = tmp_path / "coffee_copy.png"
    shutil.copyfile(corpus / "coffee.png", copy)
    assert memory.add([copy], progress=False).added == 1
    assert memory.remove(copy) == 1
    original = [i for i in memory.store.iter_items() if Path(i.source).name == "coffee.png"]
    assert original and memory.load_image(original[0]) is not None


def test_remove_deletes_items_media_and_edges(memory: Memory, corpus: Path) -> None:
    target = str((corpus / "chelsea.png").resolve())
    media = [i.media for i in memory.store.iter_items() if i.source == target]
    n = memory.remove(corpus / "chelsea.png")
    assert n >= 1
    assert target not in memory.sources()
    assert all(i.source != target for i in memory.store.iter_items())
    assert media and all(memory.media.read(m) is None for m in media if m)
    assert all(Path(h.item.source).name != "chelsea.png" for h in memory.search("a cat", k=5).hits)


class _ClosableLLM:
    """Stands in for a loaded model: counts close() calls (a real model needs GBs and minutes)."""

    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def test_close_frees_the_llm_it_loaded_but_not_one_passed_in(monkeypatch, tmp_path: Path) -> None:
    import vimrag.models.factory as factory
    from vimrag import Agent

    made: list[_ClosableLLM] = []
    monkeypatch.setattr(factory, "make_llm", lambda spec, cfg: made.append(_ClosableLLM()) or made[-1])
    mem = Memory(load_config(), store=str(tmp_path / "s"))
    agent = Agent(mem)
    first = agent.llm
    assert first is made[0] and mem.llm is first
    mem.close()
    assert first.closed == 1
    assert agent.llm is made[1] and made[1] is not first  # the agent never reuses the freed model
    mem.close()
    assert made[1].closed == 1 and first.closed == 1

    mine = _ClosableLLM()
    with Memory(load_config(), store=str(tmp_path / "t"), llm=mine) as mem2:
        assert mem2.llm is mine
    assert mine.closed == 0  # the caller's model stays the caller's


def test_files_perceived_with_other_settings_are_perceived_again(memory: Memory, corpus: Path) -> None:
    """A perceiver fingerprint per source (issue 16): changing how concepts are verified or split makes the
    next ingest perceive the photos again, while text files stay unchanged; the same settings again change
    nothing."""
    from vimrag.polar.build import perception_fingerprint

    other = load_config(overrides={"store.uri": memory.config.store.uri, "ingest.ocr": "false",
                                   "polar.local_kappa": "2.5"}, env={})
    assert perception_fingerprint(other) != perception_fingerprint(memory.config)
    try:
        with Memory(other) as mem2:
            report = mem2.add([corpus], progress=False)
            statuses = {Path(f.path).name: f.status for f in report.files}
            assert statuses["notes.md"] == "unchanged", statuses  # a text file is not perceived
            assert {statuses[p] for p in ("coffee.png", "astronaut.png", "chelsea.png")} <= {"replaced", "added"}
            photo = next(s for s in mem2.sources() if s.endswith("coffee.png"))
            assert mem2.store.sources()[photo].meta["perceiver"] == perception_fingerprint(other)
            assert mem2.add([corpus], progress=False).unchanged == 4
    finally:
        memory.store.refresh()
        back = memory.add([corpus], progress=False)  # the module's other tests expect the first settings
    assert back.replaced == 3 and back.unchanged == 1


def test_query_parser_llm_asks_the_memorys_model_once_per_query(tmp_path: Path) -> None:
    """polar.query_parser = "llm" (PolarMem §3.4) reaches Memory.search; "rules" never calls a model."""
    from tests.doubles import ScriptedLLM

    (tmp_path / "notes.md").write_text("The espresso machine in the lab was repaired on Tuesday.\n")
    llm = ScriptedLLM(lambda messages: {"positive": ["Espresso Machines"], "negative": ["People"]})
    for parser, calls in (("llm", 1), ("rules", 0)):
        cfg = load_config(overrides={"store.uri": str(tmp_path / f"store-{parser}"), "polar.query_parser": parser},
                          env={})
        llm.calls.clear()
        with Memory(cfg, llm=llm) as mem:
            mem.add([tmp_path / "notes.md"], progress=False)
            first = mem.search("coffee gear without anyone around", k=3)
            again = mem.search("coffee gear without anyone around", k=3)
        assert len(llm.calls) == calls  # the second search of the same text is served from the cache
        if parser == "llm":
            assert first.positive == again.positive == ["espresso machine"] and first.negative == ["person"]
        else:
            assert first.positive == ["coffee gear"] and first.negative == ["anyone"]  # "around" is a stop word
        assert [h.item.source for h in first.hits] == [str((tmp_path / "notes.md").resolve())]
