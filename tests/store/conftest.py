"""Fixtures: the same contract suite runs against LanceStore (always) and PostgresStore (when a server is up).

PostgreSQL tests need ``VIMRAG_TEST_PG_URI`` (``eval "$(bash scripts/pg_ci.sh)"`` starts one); each test gets
its own schema, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from vimrag.store.base import SourceRecord
from vimrag.types import ConceptEvidence, Item, Locator, Modality, Polarity

PG_URI = os.environ.get("VIMRAG_TEST_PG_URI", "")
pg_skip = pytest.mark.skipif(not PG_URI, reason="VIMRAG_TEST_PG_URI is not set (run: eval \"$(bash scripts/pg_ci.sh)\")")


def _with_schema(uri: str, schema: str) -> str:
    return uri + ("&" if "?" in uri else "?") + f"schema={schema}"


BACKENDS = [
    pytest.param("lance", id="lance", marks=pytest.mark.integration),
    pytest.param("postgres", id="postgres", marks=[pytest.mark.integration, pytest.mark.postgres, pg_skip]),
    # the SQL planner (polar.pg_search = "sql") keeps the same contract
    pytest.param("postgres-sql", id="postgres-sql", marks=[pytest.mark.integration, pytest.mark.postgres, pg_skip]),
]


@pytest.fixture(params=BACKENDS)
def open_backend(request: pytest.FixtureRequest, tmp_path) -> Iterator[Callable[[], object]]:
    """A function that (re)opens the same store: call it again after close() to test persistence."""
    opened: list[object] = []
    if request.param == "lance":
        from vimrag.store.lance import LanceStore

        def make() -> object:
            s = LanceStore(tmp_path / "store")
            opened.append(s)
            return s
    else:
        from vimrag.config import PolarConfig
        from vimrag.store.postgres import PostgresStore

        uri = _with_schema(PG_URI, "t_" + uuid.uuid4().hex[:12])
        polar = PolarConfig(pg_search="sql" if request.param == "postgres-sql" else "index")

        def make() -> object:
            s = PostgresStore(uri, polar=polar)
            opened.append(s)
            return s
    yield make
    for s in opened:
        s.close()
    if request.param != "lance":
        from vimrag.store.postgres import PostgresStore

        s = PostgresStore(uri)
        s.drop()
        s.close()


@pytest.fixture
def store(open_backend):
    return open_backend()


def make_item(source: str, i: int, concepts: dict[str, Polarity], vector: np.ndarray, version: int = 0) -> Item:
    return Item(
        id=f"{source}#{i}",
        source=source,
        source_hash=f"h{version}",
        modality=Modality.PAGE,
        locator=Locator(page=i + 1, box=(1.0, 2.0, 3.5, 4.0)),
        text=f"item {i} of {source} v{version}",
        concepts=[ConceptEvidence(c, p, 0.25 + 0.5 * (p == Polarity.HAS), "test") for c, p in concepts.items()],
        entities=[f"entity{i}"],
        media=f"media/{i}.png",
        vector=vector,
        meta={"version": version, "i": i},
    )


def random_source(rng: np.random.Generator, source: str, n: int, vocab: list[str], dim: int,
                  version: int = 0) -> tuple[SourceRecord, list[Item]]:
    items = []
    for i in range(n):
        k = int(rng.integers(0, min(6, len(vocab)) + 1))
        names = rng.choice(vocab, size=k, replace=False).tolist()
        concepts = {c: Polarity(int(rng.integers(-1, 2))) for c in names}
        items.append(make_item(source, i, concepts, rng.standard_normal(dim).astype(np.float32), version))
    return SourceRecord(source, f"h{version}", n, {"version": version}), items


@pytest.fixture(params=[pytest.param("lance", marks=pytest.mark.integration),
                        pytest.param("postgres", marks=[pytest.mark.integration, pytest.mark.postgres, pg_skip])])
def store_uri(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A store URI for whole-``Memory`` tests on both backends: a folder, or a fresh PostgreSQL schema that is
    dropped afterwards with every workspace schema made inside it."""
    if request.param == "lance":
        yield str(tmp_path / "store")
        return
    uri = _with_schema(PG_URI, "u_" + uuid.uuid4().hex[:10])
    yield uri
    from vimrag.store.factory import workspace_location
    from vimrag.store.postgres import PostgresStore, list_workspaces

    for ws in list_workspaces(uri):
        s = PostgresStore(workspace_location("postgres", uri, ws))
        s.drop()
        s.close()
