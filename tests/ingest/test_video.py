from __future__ import annotations

import math
from pathlib import Path

import pytest

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
