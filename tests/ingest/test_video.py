from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import espeak_pcm, write_video
from vimrag.config import IngestConfig
from vimrag.errors import IngestError
from vimrag.ingest.registry import iter_items
from vimrag.ingest.video import VideoLoader
from vimrag.types import Modality

CFG = IngestConfig(video_segment_s=5.0, transcribe=False)


@pytest.mark.parametrize("name", ["scenes.mp4", "scenes.webm", "scenes.mkv", "scenes.avi", "scenes.mov"])
def test_segments_and_keyframes(video_dir: Path, name: str) -> None:
    items = list(iter_items(video_dir / name, CFG))
    assert len(items) == math.ceil(12.0 / CFG.video_segment_s)  # 12 s in 5 s windows → 3 segments
    assert [it.locator.start for it in items] == [0.0, 5.0, 10.0]
    assert items[-1].locator.end == pytest.approx(12.0, abs=0.15)
    for it in items:
        assert it.modality == Modality.VIDEO
        ks = it.locator.keyframes
        assert list(ks) == sorted(set(ks)) and 1 <= len(ks) <= CFG.max_keyframes_per_segment
        assert all(it.locator.start <= k < it.locator.end for k in ks)
        assert [t for t, _ in it.frames] == list(ks)
        assert it.image is not None and it.image in [im for _, im in it.frames]
    # the scene cuts at 4 s (in segment 0) and 8 s (in segment 1) are found within one sampling step
    assert (
        len(items[0].locator.keyframes) == 2
        and 4.0 <= items[0].locator.keyframes[1] <= 4.0 + 1 / CFG.scene_sample_fps + 0.01
    )
    assert (
        len(items[1].locator.keyframes) == 2
        and 8.0 <= items[1].locator.keyframes[1] <= 8.0 + 1 / CFG.scene_sample_fps + 0.01
    )
    assert items[2].locator.keyframes == (10.0,)  # no cut: only the segment's first frame


def test_keyframe_cap_and_threshold(video_dir: Path) -> None:
    one = list(
        VideoLoader().load(
            video_dir / "scenes.mp4",
            IngestConfig(video_segment_s=20, max_keyframes_per_segment=1, transcribe=False),
        )
    )
    assert len(one) == 1 and one[0].locator.keyframes == (0.0,)
    many = list(
        VideoLoader().load(
            video_dir / "scenes.mp4", IngestConfig(video_segment_s=20, scene_threshold=1.0, transcribe=False)
        )
    )
    assert many[0].locator.keyframes == (0.0,)  # nothing exceeds a threshold of 1


def test_short_tail_merges_into_previous_segment(video_dir: Path) -> None:
    items = list(
        VideoLoader().load(video_dir / "scenes.mp4", IngestConfig(video_segment_s=5.9, transcribe=False))
    )
    # windows [0,5.9), [5.9,11.8), remainder 0.2 s < MIN_TAIL_S joins the second segment
    assert len(items) == 2 and items[-1].locator.end == pytest.approx(12.0, abs=0.15)


def test_truncated_videos(video_dir: Path) -> None:
    partial = list(iter_items(video_dir / "truncated.mkv", CFG))  # Matroska: the first half still decodes
    assert partial and partial[-1].locator.end < 12.0
    with pytest.raises(IngestError, match="video"):
        list(iter_items(video_dir / "truncated.mp4", CFG))  # index (moov) at the end was cut off


@pytest.mark.slow
def test_transcript_from_speech(speech_video: Path) -> None:
    items = list(VideoLoader().load(speech_video, IngestConfig(video_segment_s=3.0, transcribe=True)))
    text = " ".join(it.text for it in items).lower()
    assert "giraffe" in text and "bridge" in text
    assert items[0].meta.get("transcript_model") == "whisper-tiny.en"
    first_word_seg = next(i for i, it in enumerate(items) if it.text)
    assert items[first_word_seg].locator.start <= 1.5  # speech starts at ~1 s


@pytest.mark.slow
@pytest.mark.integration
def test_real_clip_transcribes() -> None:
    clip = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "videos" / "chaplin.mp4"
    if not clip.is_file():
        pytest.skip("shared data not present")
    items = list(VideoLoader().load(clip, IngestConfig()))
    assert len(items) == 1 and items[0].locator.end == pytest.approx(9.6, abs=0.3)
    assert len(items[0].locator.keyframes) >= 1


def test_sentences_split_on_punctuation_and_pauses() -> None:
    from vimrag.ingest.video import sentences

    words = [(0.0, 0.4, "Hello"), (0.5, 0.9, "there."), (1.0, 1.3, "Next"), (1.4, 1.8, "one"),
             (3.0, 3.3, "after"), (3.4, 3.8, "pause")]  # fmt: skip
    assert sentences(words) == [(0.0, 0.9), (1.0, 1.8), (3.0, 3.8)]
    assert sentences([]) == []


def test_an_unpunctuated_run_is_cut_at_its_widest_pauses() -> None:
    """A transcript without full stops or long pauses (Whisper on some CPUs) still gives pieces of at most
    ``max_s``, cut where the speaker paused longest, not mid-phrase; a piece that fits stays whole."""
    from vimrag.ingest.video import sentences, speech_cuts

    # three 2-s phrases of four words (0.1-s gaps inside), 0.4-s pauses between them: no pause ≥ 0.7 s
    words = []
    for p in range(3):
        t0 = p * 2.4
        words += [(t0 + k * 0.5, t0 + k * 0.5 + 0.4, f"w{p}{k}") for k in range(4)]
    assert sentences(words) == [(0.0, 6.7)]  # one "sentence" when nothing bounds its length
    assert sentences(words, max_s=4.0) == [(0.0, 1.9), (2.4, 4.3), (4.8, 6.7)]
    assert sentences(words, max_s=7.0) == [(0.0, 6.7)]
    assert sentences([(0.0, 9.0, "long")], max_s=4.0) == [(0.0, 9.0)]  # one word cannot be cut
    cuts = speech_cuts(words, 4.0)
    assert all(any(a[1] < c < b[0] for a, b in zip(words, words[1:], strict=False) if b[0] - a[1] > 0.3)
               for c in cuts[:-1])  # every cut inside a 0.4-s pause


def test_speech_cuts_fall_between_sentences_and_windows_fill_silence() -> None:
    from vimrag.ingest.video import _Bounds, speech_cuts

    # four 4-s sentences with 2-s gaps, L = 10: every cut lies in a gap, no segment is longer than L
    words = [(s, s + 4.0, "word.") for s in (0.0, 6.0, 12.0, 18.0)]
    cuts = speech_cuts(words, 10.0)
    gaps = [(4.0, 6.0), (10.0, 12.0), (16.0, 18.0)]
    assert all(any(a <= c <= b for a, b in gaps) for c in cuts[:-1])
    assert cuts[-1] >= 22.0  # after the last sentence, plain windows only once it is over
    bounds = [0.0, *cuts]
    for a, b in zip(bounds, bounds[1:], strict=False):  # at most L of speech in a segment
        assert sum(min(e, b) - max(s, a) for s, e, _ in words if min(e, b) > max(s, a)) <= 10.0
    # 25 s of silence before the first sentence: plain 10-s windows up to it
    late = speech_cuts([(25.0, 26.0, "hi."), (27.0, 28.0, "yes.")], 10.0)
    assert late[:2] == [10.0, 20.0]
    b = _Bounds(cuts, 10.0)
    for i in range(len(cuts) + 3):
        assert b.start(i) < b.stop(i) and b.index((b.start(i) + b.stop(i)) / 2) == i


@pytest.fixture(scope="module")
def slides_video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[float]]:
    """Three slides, each shown while espeak-ng reads its sentence (like the demo's narrated video); and
    when each 0.5 s pause after a sentence begins."""
    d = tmp_path_factory.mktemp("slides")
    said = ["The red team builds the frame.", "The blue team paints the wheels.", "The green team tests the brakes."]
    colours = [(150, 30, 30), (30, 30, 150), (30, 120, 30)]
    chunks, scenes, pauses, t = [], [], [], 0.0
    for text, colour in zip(said, colours, strict=True):
        speech = espeak_pcm(text, d)
        pcm = np.concatenate([speech, np.zeros(8000, np.float32)])  # a 0.5 s pause after each
        chunks.append(pcm)
        scenes.append((len(pcm) / 16000, colour))
        pauses.append(t + len(speech) / 16000)
        t += len(pcm) / 16000
    return write_video(d / "slides.mp4", scenes, audio=np.concatenate(chunks)), pauses


def test_segments_follow_sentences(slides_video: tuple[Path, list[float]]) -> None:
    """With L shorter than two sentences, each segment holds whole sentences: every cut lies in a pause
    between two sentences and each sentence's last word lands in a segment of its own; keyframes lie
    inside their spans.

    Not the words themselves: the same Whisper model hears "The red team builds" as "The Ratine Bill's"
    and leaves out the full stops on an AVX2-only CPU (the cuts must then come from the pauses)."""
    path, pauses = slides_video
    items = list(VideoLoader().load(path, IngestConfig(video_segment_s=4.0, transcribe=True)))
    texts = [it.text.lower() for it in items]
    holders = []
    for last_word in ("frame", "wheels", "brakes"):
        holding = [i for i, t in enumerate(texts) if last_word in t]
        assert len(holding) == 1, texts
        holders.append(holding[0])
    assert len(set(holders)) == 3  # L = 4 s holds one ~2.5 s sentence, not two
    cuts = [it.locator.start for it in items[1:3]]
    for cut, pause in zip(cuts, pauses[:2], strict=True):  # speech ends at the pause; the next starts 0.5 s on
        assert pause - 0.3 <= cut <= pause + 0.8, (cuts, pauses)
    for it in items:
        assert all(it.locator.start <= k < it.locator.end for k in it.locator.keyframes)
    assert [it.locator.start for it in items] == sorted(it.locator.start for it in items)
    assert all(a.locator.end == b.locator.start for a, b in zip(items, items[1:], strict=False))
