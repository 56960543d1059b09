"""Video loader (PyAV): bounded-length segments, each with scene-change keyframes and its transcript.

A video segment is PolarMem's unit of memory for video (DESIGN §1): perception verifies concepts on its
keyframes, and VimRAG's memory graph cites it by time span (VimRAG §3.1, keyframes aligned with timestamps).

* **Segments** follow what is said (issue 15): with a transcript, a segment ends between two sentences once
  it holds at least ``L/2`` of speech, or before a sentence that would take it past ``L``
  (``L = IngestConfig.video_segment_s``), so a sentence is never cut in two and a cited span holds whole
  statements (:func:`speech_cuts`). Where nobody speaks, windows are ``L`` long. Boundaries are known before
  decoding (the transcript comes first), so segments are still emitted while decoding and memory stays
  bounded on long videos. A remainder shorter than ``MIN_TAIL_S`` is merged into the previous segment.
* **Keyframes**: frames are compared ``scene_sample_fps`` times a second as small grayscale thumbnails; a
  frame becomes a keyframe when its mean absolute difference from the *last keyframe* exceeds
  ``scene_threshold`` (comparing with the last keyframe, not the previous frame, also catches slow pans).
  The first frame of the video — and of every segment, so each segment has a picture — is always kept; if a
  segment has more candidates than ``max_keyframes_per_segment``, the strongest changes are kept.
* Besides scene changes, in a video with speech (whose boundaries fall between sentences, so a segment's
  first frame may still show the previous slide) the frame at the middle of each segment is a keyframe
  when it differs at all from the last keyframe (``MID_MIN_DIFF``: new text on the same slide background is far below the scene
  threshold), and ``RawItem.image`` is
  the segment's **medoid keyframe** (the one most similar to the others; of two, the one nearest the middle,
  :func:`representative`), not a contact sheet: the embedded perceiver's detector/classifier/OCR work on a single natural image at native scale, and
  a grid would shrink each frame to a quarter; all keyframes are still in ``RawItem.frames`` for a VLM.
* **Transcript**: when the file has an audio stream and ``IngestConfig.transcribe`` is on, the whole track is
  transcribed once with word timestamps (``vimrag.models.speech``) and each word goes to the segment that
  contains its midpoint.
* A truncated file yields the segments decoded before the damage (``meta["truncated"]``); nothing decodable
  is an :class:`IngestError`.
"""

from __future__ import annotations

import bisect
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
# A segment's middle frame becomes a keyframe when it differs at all from the last one: a slide whose text
# changes on the same background differs by ~0.015 (far below scene_threshold), an unchanged scene by ~0.0001.
MID_MIN_DIFF = 0.005


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
    mid_t: float = math.inf  # the segment's middle: a keyframe is also taken there (see representative)


def sentences(words: list[tuple[float, float, str]], pause_s: float = 0.7,
              max_s: float = math.inf) -> list[tuple[float, float]]:
    """(start, end) of each sentence: words up to one ending in . ? ! or followed by a pause ≥ ``pause_s``.

    A run longer than ``max_s`` with neither is split at its widest pauses between words until every piece
    fits (:func:`_fit`): speech recognition does not always punctuate (the same Whisper model wrote "the
    frame The Blue Team …" with no full stops on an AVX2-only CPU), and a whole unpunctuated talk must not
    become one sentence, and so one segment of any length.
    """
    out: list[tuple[float, float]] = []
    first: int | None = None
    for i, (_, e, w) in enumerate(words):
        first = i if first is None else first
        nxt = words[i + 1][0] if i + 1 < len(words) else None
        if w.strip().endswith((".", "?", "!")) or nxt is None or nxt - e >= pause_s:
            out += _fit(words, first, i, max_s)
            first = None
    return out


def _fit(words: list[tuple[float, float, str]], a: int, b: int, max_s: float) -> list[tuple[float, float]]:
    """Words ``a..b`` as (start, end) spans of at most ``max_s`` (a single word may be longer), cut at the
    widest gap between words — of equally wide ones, the one nearest the middle."""
    out: list[tuple[float, float]] = []
    todo = [(a, b)]
    while todo:
        a, b = todo.pop()
        if a == b or words[b][1] - words[a][0] <= max_s:
            out.append((words[a][0], words[b][1]))
            continue
        mid = (a + b) / 2
        j = max(range(a, b), key=lambda k: (words[k + 1][0] - words[k][1], -abs(k + 0.5 - mid)))
        todo += [(j + 1, b), (a, j)]  # popped first: the earlier piece
    return out


def speech_cuts(words: list[tuple[float, float, str]], seg_len: float) -> list[float]:
    """Segment boundaries (seconds, increasing), each between two sentences; see the module docstring."""
    cuts: list[float] = []
    seg_start, has_speech = 0.0, False
    sents = sentences(words, max_s=seg_len)
    for i, (s, e) in enumerate(sents):
        if has_speech and e - seg_start > seg_len:  # this sentence would take the segment past L
            seg_start, has_speech = round((sents[i - 1][1] + s) / 2, 3), False
            cuts.append(seg_start)
        while not has_speech and s - seg_start >= seg_len:  # nobody speaks: plain windows
            seg_start = round(seg_start + seg_len, 3)
            cuts.append(seg_start)
        has_speech = True
        if e - seg_start >= seg_len / 2 and i + 1 < len(sents):
            seg_start, has_speech = round((e + sents[i + 1][0]) / 2, 3), False
            cuts.append(seg_start)
    if has_speech:  # after the last sentence the plain windows start once it is over
        cuts.append(round(max(seg_start + seg_len, sents[-1][1] + 0.25), 3))
    return cuts


class _Bounds:
    """Maps a time to its segment: the speech cuts, then windows of ``seg_len`` after the last one."""

    def __init__(self, cuts: list[float], seg_len: float) -> None:
        self.cuts, self.seg_len = cuts, seg_len

    def index(self, t: float) -> int:
        i = bisect.bisect_right(self.cuts, t)
        if i < len(self.cuts):
            return i
        last = self.cuts[-1] if self.cuts else 0.0
        return len(self.cuts) + int((t - last) // self.seg_len)

    def start(self, index: int) -> float:
        if index == 0:
            return 0.0
        if index <= len(self.cuts):
            return self.cuts[index - 1]
        last = self.cuts[-1] if self.cuts else 0.0
        return last + (index - len(self.cuts)) * self.seg_len

    def stop(self, index: int) -> float:
        return self.start(index + 1)


def scene_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two uint8 grayscale thumbnails, in [0, 1]."""
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean() / 255.0)


def medoid(grays: list[np.ndarray]) -> int:
    """Index of the thumbnail with the smallest summed difference to the others (earliest on ties)."""
    if len(grays) <= 2:
        return 0
    sums = [sum(scene_difference(g, h) for h in grays) for g in grays]
    return int(np.argmin(sums))


def representative(keys: list[_Key], mid: float) -> int:
    """The keyframe that stands for a segment (``RawItem.image``): the medoid of three or more, else the one
    nearest the segment's middle — of a first frame (often still the previous scene, since boundaries fall
    between sentences) and the middle one, the middle shows what the segment is about."""
    if len(keys) >= 3:
        return medoid([k.gray for k in keys])
    return min(range(len(keys)), key=lambda i: abs(keys[i].t - mid))


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
        bounds = _Bounds(speech_cuts(words, seg_len), seg_len)
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
        last_sample: tuple[float, Any, np.ndarray, float] | None = None
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
            idx = bounds.index(t)
            new_window = win is None or idx != win.index
            if new_window:
                if win is not None:
                    if pending is not None:
                        yield self._item(pending, bounds, None, words, base_meta, config)
                    pending = win
                mid = (bounds.start(idx) + bounds.stop(idx)) / 2 if words else math.inf
                win = _Window(idx, first_t=t, mid_t=mid)
            assert win is not None
            win.last_t = t
            at_mid = not new_window and t >= win.mid_t
            if at_mid:
                win.mid_t = math.inf  # once
            elif not new_window and t < next_sample:
                continue
            next_sample = t + sample_dt
            gray = frame.reformat(
                width=THUMB_W,
                height=max(1, round(THUMB_W * frame.height / max(frame.width, 1))),
                format="gray",
            ).to_ndarray()
            score = 1.0 if ref is None else scene_difference(gray, ref)
            win.scores.append(score)
            last_sample = (t, frame, gray, score)
            if new_window or (at_mid and score > MID_MIN_DIFF) or score > config.scene_threshold:
                ref = gray
                self._add_key(
                    win,
                    _Key(t, 1.0 if new_window else score, gray, self._picture(frame, config)),
                    config.max_keyframes_per_segment,
                )
        if win is None:
            reason = f"no decodable video frames ({truncated})" if truncated else "no decodable video frames"
            raise IngestError(str(path), reason)
        if last_sample is not None and win.mid_t != math.inf and last_sample[0] > win.keys[-1].t:
            # the video ended before the last segment's middle: its last sampled frame stands in for it
            lt, lframe, lgray, lscore = last_sample
            self._add_key(win, _Key(lt, lscore, lgray, self._picture(lframe, config)),
                          config.max_keyframes_per_segment)
        end = win.last_t + 1.0 / rate
        if truncated:
            log.warning("%s: video truncated after %.2f s: %s", path, end, truncated)
            base_meta = {**base_meta, "truncated": truncated}
        if pending is not None and end - bounds.start(win.index) < MIN_TAIL_S:
            pending.keys = (pending.keys + win.keys)[: config.max_keyframes_per_segment]
            pending.scores += win.scores
            pending.last_t = win.last_t
            yield self._item(pending, bounds, end, words, base_meta, config)
        else:
            if pending is not None:
                yield self._item(pending, bounds, None, words, base_meta, config)
            yield self._item(win, bounds, end, words, base_meta, config)

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
        bounds: _Bounds,
        end: float | None,
        words: list[tuple[float, float, str]],
        base_meta: dict[str, Any],
        config: IngestConfig,
    ) -> RawItem:
        start = bounds.start(win.index)
        stop = bounds.stop(win.index) if end is None else end
        text = " ".join(
            w.strip()
            for s, e, w in words
            if start <= (s + e) / 2 < stop or (end is not None and (s + e) / 2 >= stop)
        )
        rep = representative(win.keys, (start + stop) / 2)
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
