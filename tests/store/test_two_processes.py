"""Two ``vimrag`` processes on one store (issue 17): two ingest jobs and a search loop at the same time see
each other's committed writes, lose none and corrupt nothing — on LanceDB (writers serialise on the
store's lock file) and on PostgreSQL (transactions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _vimrag(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "vimrag", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def test_two_ingest_jobs_and_a_reader_on_one_store(store_uri: str, tmp_path: Path) -> None:
    for part in ("a", "b"):
        d = tmp_path / part
        d.mkdir()
        for i in range(12):  # small files, many commits: the writers interleave
            (d / f"{part}{i:02d}.md").write_text(f"# Note {part}{i}\n\nHarbour log {part}{i}: ferry number {i}.\n")
    reader_script = (
        "import json, sys, time\n"
        "from vimrag import Memory\n"
        "seen = []\n"
        "with Memory(store=sys.argv[1]) as m:\n"
        "    t = time.monotonic()\n"
        "    while time.monotonic() - t < 180:\n"
        "        m.store.refresh() if hasattr(m.store, 'refresh') else None\n"
        "        seen.append(len(m.search('harbour ferry', k=50).hits))\n"
        "        if seen[-1] == 24: break\n"
        "        time.sleep(0.3)\n"
        "print(json.dumps(seen))\n")
    jobs = [_vimrag("ingest", str(tmp_path / p), "--store", store_uri, "--json", cwd=tmp_path) for p in ("a", "b")]
    reader = subprocess.Popen([sys.executable, "-c", reader_script, store_uri], cwd=tmp_path, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    outs = [j.communicate(timeout=300) for j in jobs]
    for j, (out, errs) in zip(jobs, outs, strict=True):
        assert j.returncode == 0, errs[-2000:]
        assert json.loads(out)["added"] == 12
    seen = json.loads(reader.communicate(timeout=300)[0].strip().splitlines()[-1])
    assert reader.returncode == 0
    assert seen == sorted(seen) and seen[-1] == 24  # it saw the others' commits grow, never shrink, to all 24
    final = subprocess.run([sys.executable, "-m", "vimrag", "info", "--store", store_uri, "--json"], cwd=tmp_path,
                           capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    stats = json.loads(final.stdout)["stats"]
    assert stats["sources"] == 24 and stats["items"] == 24  # no lost write, no duplicate
