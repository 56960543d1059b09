"""Dataset converters and the name resolver: ``resolve_dataset("hotpotqa-100")`` → :class:`Dataset`.

Built-in names (converted once from the shared data into a cache folder, then reused):

- ``hotpotqa-100``: HotpotQA multi-hop QA over a one-file-per-passage corpus;
- ``mmlongbench-doc-dev``: MMLongBench-Doc over its PDFs;
- ``coco128-pope``: POPE yes/no probing (random / popular / adversarial) on coco128-train images;
- ``coco128-negation``: "A but no B" negation retrieval on the same images;
- ``coco128-negation-b``: a second "A but no B" set, another seed and rule (A in at least 4 images), so a
  figure is not one sampling's luck.

Anything else is a path: a ``.jsonl`` file in the eval schema, or a folder in the format of
:mod:`vimrag.eval.datasets.folder`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from vimrag.eval.schema import Dataset, DatasetError, load_jsonl_dataset

BUILTIN = {
    "hotpotqa-100": "hotpotqa-100",
    "mmlongbench-doc-dev": "mmlongbench-doc-dev",
    "coco128-pope": "coco128-train",
    "coco128-negation": "coco128-train",
    "coco128-negation-b": "coco128-train",
}
CONVERTER_VERSION = "1"  # bump when a converter's output changes, so caches are rebuilt


def default_data_root() -> Path | None:
    """Where the shared benchmark data lives: ``$VIMRAG_DATA_ROOT``, else ``../shared/data`` from the
    working directory or from the repository root (read when called, never at import)."""
    env = os.environ.get("VIMRAG_DATA_ROOT")
    candidates = [Path(env)] if env else []
    candidates += [Path.cwd() / ".." / "shared" / "data", Path(__file__).resolve().parents[4] / ".." / "shared" / "data"]
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    return None


def default_cache_dir() -> Path:
    env = os.environ.get("VIMRAG_EVAL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "vimrag" / "eval"


def _converter(name: str) -> Callable[[Path, Path], Dataset]:
    if name == "hotpotqa-100":
        from vimrag.eval.datasets.hotpotqa import convert_hotpotqa
        return lambda s, o: convert_hotpotqa(s, o, name)
    if name == "mmlongbench-doc-dev":
        from vimrag.eval.datasets.mmlongbench import convert_mmlongbench
        return lambda s, o: convert_mmlongbench(s, o, name)
    if name == "coco128-pope":
        from vimrag.eval.datasets.coco import convert_coco_pope
        return lambda s, o: convert_coco_pope(s, o, name)
    from vimrag.eval.datasets.coco import convert_coco_negation
    if name == "coco128-negation-b":
        return lambda s, o: convert_coco_negation(s, o, name, n=100, seed=1, min_positive=4)
    return lambda s, o: convert_coco_negation(s, o, name)


def resolve_dataset(spec: str | Path, data_root: str | Path | None = None, cache_dir: str | Path | None = None,
                    rebuild: bool = False) -> Dataset:
    """Resolve a built-in dataset name or a path to a :class:`Dataset` (converting and caching if needed)."""
    s = str(spec)
    if s in BUILTIN:
        root = Path(data_root) if data_root is not None else default_data_root()
        if root is None or not (root / BUILTIN[s]).is_dir():
            raise DatasetError(
                f"dataset {s!r} needs its source folder {BUILTIN[s]!r}; set VIMRAG_DATA_ROOT (or pass data_root) "
                f"to the folder that holds it (looked in {root or '../shared/data'})")
        out = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        out = out / f"{s}-v{CONVERTER_VERSION}"
        jsonl = out / f"{s}.jsonl"
        if jsonl.is_file() and not rebuild:
            return load_jsonl_dataset(jsonl, s)
        return _converter(s)(root / BUILTIN[s], out)
    p = Path(s).expanduser()
    if p.is_dir():
        from vimrag.eval.datasets.folder import load_folder
        return load_folder(p)
    if p.suffix == ".jsonl" or p.is_file():
        return load_jsonl_dataset(p)
    raise DatasetError(f"unknown dataset {s!r}: use one of {', '.join(BUILTIN)} or a path to a .jsonl / folder")


__all__ = ["BUILTIN", "resolve_dataset", "default_data_root", "default_cache_dir"]
