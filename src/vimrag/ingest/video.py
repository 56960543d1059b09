"""Video loader (PyAV): bounded-length segments, each with scene-change keyframes and its transcript.

A video segment is PolarMem's unit of memory for video (DESIGN §1): perception verifies concepts on its
keyframes, and VimRAG's memory graph cites it by time span (VimRAG §3.1, keyframes aligned with timestamps).

* **Segments** are fixed windows ``[i·L, (i+1)·L)`` with ``L = IngestConfig.video_segment_s`` (predictable,
  citable spans; they can be emitted while decoding, so memory stays bounded on long videos). A remainder
  shorter than ``MIN_TAIL_S`` is merged into the previous segment instead of becoming a near-empty item.
* **Keyframes**: frames are compared ``scene_sample_fps`` times a second as small grayscale thumbnails; a
  frame becomes a keyframe when its mean absolute difference from the *last keyframe* exceeds
  ``scene_threshold`` (comparing with the last keyframe, not the previous frame, also catches slow pans).
  The first frame of the video — and of every segment, so each segment has a picture — is always kept; if a
  segment has more candidates than ``max_keyframes_per_segment``, the strongest changes are kept.
* ``RawItem.image`` is the segment's **medoid keyframe** (the one most similar to the others), not a contact
  sheet: the embedded perceiver's detector/classifier/OCR work on a single natural image at native scale, and
  a grid would shrink each frame to a quarter; all keyframes are still in ``RawItem.frames`` for a VLM.
* **Transcript**: when the file has an audio stream and ``IngestConfig.transcribe`` is on, the whole track is
  transcribed once with word timestamps (``vimrag.models.speech``) and each word goes to the segment that
  contains its midpoint.
* A truncated file yields the segments decoded before the damage (``meta["truncated"]``); nothing decodable
  is an :class:`IngestError`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vimrag._extras import require
from vimrag.config import IngestConfig
from vimrag.errors import IngestError, MissingExtraError, ModelUnavailableError
from vimrag.ingest.base import RawItem
from vimrag.types import Locator, Modality

log = logging.getLogger(__name__)

MIN_TAIL_S = 0.5  # a last segment shorter than this joins the previous one
THUMB_W = 64  # width of the grayscale thumbnails compared for scene change


@dataclass
class _Key:
    t: float
    score: float
    gray: np.ndarray
    image: Image.Image


@dataclass
class _Window:
    index: int
    keys: list[_Key] = field(default_factory=list)
    first_t: float = 0.0
    last_t: float = 0.0
    scores: list[float] = field(default_factory=list)


def scene_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two uint8 grayscale thumbnails, in [0, 1]."""
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean() / 255.0)


def medoid(grays: list[np.ndarray]) -> int:
    """Index of the thumbnail with the smallest summed difference to the others (earliest on ties)."""
    if len(grays) <= 2:
        return 0
    sums = [sum(scene_difference(g, h) for h in grays) for g in grays]
    return int(np.argmin(sums))


def _av_errors(av: Any) -> tuple[type[BaseException], ...]:
    base = getattr(av, "FFmpegError", None) or getattr(getattr(av, "error", None), "FFmpegError", None)
    return (base, OSError, ValueError) if base else (OSError, ValueError)


class VideoLoader:
    """Videos (mp4, webm, mkv, mov, avi, m4v): one VIDEO item per segment (see module doc)."""

    name: str = "video"
    extensions: tuple[str, ...] = (".mp4", ".m4v", ".webm", ".mkv", ".mov", ".avi")

    def load(self, path: Path, config: IngestConfig) -> Iterator[RawItem]:
        av = require("av", "video")
        errors = _av_errors(av)
        p = str(path)
        try:
            container = av.open(p)
        except errors as exc:
            raise IngestError(p, f"corrupt or unsupported video: {exc}") from exc
        try:
            if not container.streams.video:
                raise IngestError(p, "no video stream (audio-only or data file)")
            has_audio = bool(container.streams.audio)
            words, transcript_meta = (
                self._transcript(path, config) if has_audio and config.transcribe else ([], {})
            )
            yield from self._segments(container, path, config, has_audio, words, transcript_meta, errors)
        finally:
            container.close()

    def _transcript(
        self, path: Path, config: IngestConfig
    ) -> tuple[list[tuple[float, float, str]], dict[str, Any]]:
        from vimrag.models import speech

        try:
            words = speech.transcribe(path, words=True)
        except (MissingExtraError, ModelUnavailableError) as exc:
            log.warning("%s: audio not transcribed: %s", path, exc)
            return [], {"transcript_error": str(exc)}
        except (OSError, ValueError, RuntimeError) as exc:  # undecodable/truncated audio: keep the pictures
            log.warning("%s: audio not transcribed: %s", path, exc)
            return [], {"transcript_error": f"{type(exc).__name__}: {exc}"}
        return [(w.start, w.end, w.text) for w in words], {"transcript_model": speech.MODEL_NAME}

    def _segments(
        self,
        container: Any,
        path: Path,
        config: IngestConfig,
        has_audio: bool,
        words: list[tuple[float, float, str]],
        transcript_meta: dict[str, Any],
        errors: tuple[type[BaseException], ...],
    ) -> Iterator[RawItem]:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        seg_len = float(config.video_segment_s)
        if seg_len <= 0:
            raise IngestError(str(path), "ingest.video_segment_s must be positive")
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        t0 = None
        base_meta: dict[str, Any] = {
            "format": (container.format.name or "").split(",")[0],
            "codec": stream.codec_context.name,
            "fps": round(rate, 3),
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "has_audio": has_audio,
            **transcript_meta,
        }
        sample_dt = 1.0 / max(config.scene_sample_fps, 1e-6)
        next_sample = -math.inf
        ref: np.ndarray | None = None
        win: _Window | None = None
        pending: _Window | None = None
        n_frames = 0
        truncated = ""
        frames_iter = container.decode(stream)
        while True:
            try:
                frame = next(frames_iter)
            except StopIteration:
                break
            except errors as exc:
                truncated = f"{type(exc).__name__}: {exc}"
                break
            t_raw = frame.time if frame.time is not None else n_frames / rate
            if t0 is None:
                t0 = t_raw
            t = max(0.0, t_raw - t0)
            n_frames += 1
            idx = int(t // seg_len)
            new_window = win is None or idx != win.index
            if new_window:
                if win is not None:
                    if pending is not None:
                        yield self._item(pending, seg_len, None, words, base_meta, config)
                    pending = win
                win = _Window(idx, first_t=t)
            assert win is not None
            win.last_t = t
            if not new_window and t < next_sample:
                continue
            next_sample = t + sample_dt
            gray = frame.reformat(
                width=THUMB_W,
                height=max(1, round(THUMB_W * frame.height / max(frame.width, 1))),
                format="gray",
            ).to_ndarray()
            score = 1.0 if ref is None else scene_difference(gray, ref)
            win.scores.append(score)
            if new_window or score > config.scene_threshold:
                ref = gray
                self._add_key(
                    win,
                    _Key(t, 1.0 if new_window else score, gray, self._picture(frame, config)),
                    config.max_keyframes_per_segment,
                )
        if win is None:
            reason = f"no decodable video frames ({truncated})" if truncated else "no decodable video frames"
            raise IngestError(str(path), reason)
        end = win.last_t + 1.0 / rate
        if truncated:
            log.warning("%s: video truncated after %.2f s: %s", path, end, truncated)
            base_meta = {**base_meta, "truncated": truncated}
        if pending is not None and end - win.index * seg_len < MIN_TAIL_S:
            pending.keys = (pending.keys + win.keys)[: config.max_keyframes_per_segment]
            pending.scores += win.scores
            pending.last_t = win.last_t
            yield self._item(pending, seg_len, end, words, base_meta, config)
        else:
            if pending is not None:
                yield self._item(pending, seg_len, None, words, base_meta, config)
            yield self._item(win, seg_len, end, words, base_meta, config)

    @staticmethod
    def _add_key(win: _Window, key: _Key, max_keys: int) -> None:
        win.keys.append(key)
        if len(win.keys) > max(1, max_keys):
            weakest = min(range(1, len(win.keys)), key=lambda i: win.keys[i].score)
            del win.keys[weakest]

    @staticmethod
    def _picture(frame: Any, config: IngestConfig) -> Image.Image:
        w, h = frame.width, frame.height
        s = min(1.0, config.thumb_px / max(w, h, 1))
        return frame.reformat(
            width=max(1, round(w * s)), height=max(1, round(h * s)), format="rgb24"
        ).to_image()

    @staticmethod
    def _item(
        win: _Window,
        seg_len: float,
        end: float | None,
        words: list[tuple[float, float, str]],
        base_meta: dict[str, Any],
        config: IngestConfig,
    ) -> RawItem:
        start = win.index * seg_len
        stop = (win.index + 1) * seg_len if end is None else end
        text = " ".join(
            w.strip()
            for s, e, w in words
            if start <= (s + e) / 2 < stop or (end is not None and (s + e) / 2 >= stop)
        )
        rep = medoid([k.gray for k in win.keys])
        meta = {
            **base_meta,
            "segment": win.index,
            "representative_t": round(win.keys[rep].t, 3),
            "scene_max": round(max(win.scores[1:], default=0.0), 4),
        }
        return RawItem(
            Modality.VIDEO,
            Locator(
                start=round(start, 3), end=round(stop, 3), keyframes=tuple(round(k.t, 3) for k in win.keys)
            ),
            text=text.strip(),
            image=win.keys[rep].image,
            frames=[(round(k.t, 3), k.image) for k in win.keys],
            meta=meta,
        )
