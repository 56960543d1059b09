"""Crash consistency of LanceStore: a writer killed with SIGKILL anywhere inside replace_source leaves the
old or the new version of the source visible, never a mix, and a re-run completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from vimrag.store.lance import LanceStore

pytestmark = pytest.mark.integration

CHILD = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    from store.conftest import random_source
    from vimrag.store.lance import LanceStore

    root, stage, first, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    s = LanceStore(root)
    def die_after(obj, name):
        orig = getattr(obj, name)
        def wrapped(*a, **k):
            r = orig(*a, **k)
            os.kill(os.getpid(), signal.SIGKILL)
            return r
        setattr(obj, name, wrapped)
    if stage == "after_rows":
        die_after(s._items_t, "add")
    elif stage == "after_commit":  # the source record is committed; old rows not yet deleted
        def die(*a, **k):
            os.kill(os.getpid(), signal.SIGKILL)
        s._items_t.delete = die
    for v in range(first, last):
        s.replace_source(*random_source(np.random.default_rng(v), "doc.pdf", 20 + v % 7, ["a", "b", "c"], 8, version=v))
        print(v, flush=True)
    s.close()
""")


def _run(root: Path, stage: str, first: int, last: int, kill_after: float | None = None) -> int:
    tests_dir = str(Path(__file__).resolve().parents[1])
    cmd = [sys.executable, "-c", CHILD.format(tests=tests_dir), str(root), stage, str(first), str(last)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if kill_after is not None:
        time.sleep(kill_after)
        p.send_signal(signal.SIGKILL)
    p.wait(timeout=240)
    return p.returncode


def _assert_consistent(root: Path) -> int:
    """Exactly one version of doc.pdf is visible, complete, and the index agrees with the table."""
    s = LanceStore(root)
    try:
        rec = s.sources()["doc.pdf"]
        v = int(rec.meta["version"])
        items = list(s.iter_items())
        assert {it.meta["version"] for it in items} == {v}
        assert len(items) == rec.n_items == s.count() == 20 + v % 7
        hits = s.search(np.ones(8, np.float32), __import__("vimrag.store.base").store.base.LogicQuery(), 100)
        assert sorted(h.id for h in hits) == sorted(it.id for it in items)
        return v
    finally:
        s.close()


@pytest.mark.parametrize("stage,expect", [("after_rows", 0), ("after_commit", 1)])
def test_kill_inside_replace(tmp_path: Path, stage: str, expect: int) -> None:
    root = tmp_path / "store"
    assert _run(root, "none", 0, 1) == 0
    assert _run(root, stage, 1, 2) == -signal.SIGKILL
    assert _assert_consistent(root) == expect
    assert _run(root, "none", 1, 2) == 0  # a re-run completes
    assert _assert_consistent(root) == 1
    s = LanceStore(root)  # and garbage rows of the killed generation are gone from the table
    assert s._items_t.count_rows() == s.count()
    s.close()


def test_kill_at_random_moments(tmp_path: Path) -> None:
    root = tmp_path / "store"
    assert _run(root, "none", 0, 1) == 0
    rng = np.random.default_rng(0)
    for i in range(3):
        _run(root, "none", 1 + 100 * i, 100 + 100 * i, kill_after=float(rng.uniform(2.0, 4.0)))
        _assert_consistent(root)
    assert _run(root, "none", 7, 8) == 0
    assert _assert_consistent(root) == 7
