"""Workspaces: corpora isolated inside one store (``store.workspace``, ``--workspace``; issue 17)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.doubles import BagEmbedder
from vimrag import Memory, load_config
from vimrag.errors import ConfigError
from vimrag.store.factory import locate, media_dir, workspace_location


def test_default_is_the_store_itself_and_names_get_their_own_place() -> None:
    assert workspace_location("lance", "/data/mem", "default") == "/data/mem"  # older stores open unchanged
    assert workspace_location("lance", "/data/mem", "team_a") == str(Path("/data/mem/workspaces/team_a"))
    uri = workspace_location("postgres", "postgresql://u@h/db?sslmode=disable&schema=corp", "team_a")
    assert uri.startswith("postgresql://u@h/db?") and "sslmode=disable" in uri and uri.endswith("schema=corp_team_a")
    assert workspace_location("postgres", "postgresql://u@h/db", "b2").endswith("?schema=vimrag_b2")
    cfg = load_config(overrides={"store.uri": "/data/mem", "store.workspace": "team_a"}, env={})
    assert media_dir(cfg) == Path("/data/mem/workspaces/team_a/media")  # media stay with their corpus
    assert locate(cfg.store.uri) == ("lance", "/data/mem")


@pytest.mark.parametrize("bad", ["Team", "team-a", "../x", "", "a" * 41, "a b"])
def test_workspace_names_are_checked(bad: str) -> None:
    with pytest.raises(ConfigError, match="store.workspace"):
        load_config(overrides={"store.workspace": bad}, env={})


def _memory(uri: str, workspace: str) -> Memory:
    cfg = load_config(overrides={"store.uri": uri, "store.workspace": workspace}, env={})
    return Memory(cfg, embedder=BagEmbedder())


def test_search_remove_and_stats_never_cross_workspaces(store_uri: str, tmp_path: Path) -> None:
    a, b = tmp_path / "a.md", tmp_path / "b.md"
    a.write_text("# Lighthouse\n\nThe lighthouse keeper logs the storms of the northern coast.\n")
    b.write_text("# Bakery\n\nThe bakery on the corner sells rye bread and lighthouse-shaped cookies.\n")
    with _memory(store_uri, "team_a") as ma, _memory(store_uri, "team_b") as mb:
        assert ma.add([a], progress=False).added == 1
        assert mb.add([b], progress=False).added == 1
        hits_a = {Path(h.item.source).name for h in ma.search("lighthouse", k=10).hits}
        hits_b = {Path(h.item.source).name for h in mb.search("lighthouse", k=10).hits}
        assert hits_a == {"a.md"} and hits_b == {"b.md"}
        assert ma.stats()["sources"] == 1 and ma.stats()["workspace"] == "team_a"
        assert mb.remove(a) == 0  # team_b does not hold a.md: nothing removed there or here
        assert {Path(s).name for s in ma.sources()} == {"a.md"}
        assert {"team_a", "team_b"} <= set(ma.workspaces())
    with _memory(store_uri, "default") as md:
        assert md.stats()["sources"] == 0  # the default workspace is its own corpus too
        assert md.search("lighthouse", k=10).hits == []
    with _memory(store_uri, "team_a") as again:  # reopened: the corpus is still there, alone
        assert {Path(s).name for s in again.sources()} == {"a.md"}
