"""Which committed sources the next ingest must perceive again (a perceiver fingerprint per source)."""

from __future__ import annotations

from vimrag.config import load_config
from vimrag.ingestion import _stale_perception
from vimrag.models.chart_reading import CHART_READING_VERSION
from vimrag.polar.build import perception_fingerprint
from vimrag.store.base import SourceRecord


def test_stale_perception_by_record() -> None:
    fp = perception_fingerprint(load_config(env={}))
    assert perception_fingerprint(load_config(overrides={"polar.tta": "identity"}, env={})) != fp
    assert perception_fingerprint(load_config(overrides={"polar.similarity": "dense"}, env={})) == fp  # search only
    # the int8 close-ups change verdicts a little: a store perceived with float close-ups is perceived again
    float_views = perception_fingerprint(load_config(overrides={"models.detector_int8_absence": "false"}, env={}))
    assert float_views != fp
    assert perception_fingerprint(load_config(overrides={"models.detector_int8_absence": "false",
                                                         "models.detector_runtime": "opencv"}, env={})) == float_views

    def rec(**meta: object) -> SourceRecord:
        return SourceRecord("x", "h", 1, dict(meta))

    assert not _stale_perception(rec(loader="image", embed_format=3, perceiver=fp), fp)
    assert _stale_perception(rec(loader="image", embed_format=3, perceiver="other"), fp)
    assert _stale_perception(rec(loader="pdf"), fp)  # a page written before fingerprints: perceive again
    assert not _stale_perception(rec(loader="markdown"), fp)  # text was never perceived
    assert not _stale_perception(rec(loader="markdown", embed_format=3), fp)
    # a PDF's figures read before their charts' values were: read once more, then never again
    assert _stale_perception(rec(loader="pdf", embed_format=3, perceiver=fp), fp)
    assert not _stale_perception(rec(loader="pdf", embed_format=3, perceiver=fp, chart_reading=CHART_READING_VERSION), fp)
    assert _stale_perception(rec(loader="pdf", embed_format=3, perceiver=fp, chart_reading="junk"), fp)
    assert _stale_perception(rec(loader="pptx", embed_format=3, perceiver=fp), fp)  # slides' native charts
    assert not _stale_perception(rec(loader="image", embed_format=3, perceiver=fp), fp)  # photos hold no charts
