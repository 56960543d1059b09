"""Label vocabularies: COCO 80/90 numbering, ImageNet cleanup and the ImageNet → COCO synonym table."""

from __future__ import annotations

from pathlib import Path

import pytest

from vimrag.models.perceivers import labels as L


def test_coco_80_names_and_90_ids_align() -> None:
    assert len(L.COCO_NAMES) == len(set(L.COCO_NAMES)) == 80
    assert len(L.COCO_IDS_90) == len(set(L.COCO_IDS_90)) == 80
    assert list(L.COCO_IDS_90) == sorted(L.COCO_IDS_90) and L.COCO_IDS_90[-1] == 90
    assert L.coco_name(1) == "person" and L.coco_name(47) == "cup" and L.coco_name(90) == "toothbrush"
    assert [L.coco_name(i) for i in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83, 0, 91)] == [None] * 12


def test_coco_names_match_the_dataset_names_yaml() -> None:
    names = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "coco128-train" / "names.yaml"
    if not names.is_file():
        pytest.skip("coco128 not available")
    rows = [ln.split(":", 1)[1].strip() for ln in names.read_text().splitlines() if ln.strip()[:1].isdigit()]
    assert tuple(rows) == L.COCO_NAMES


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("tabby, tabby cat", "tabby"),
        ("Granny Smith", "granny smith"),
        ("coffee mug", "coffee mug"),
        ("  German_shepherd,  police dog ", "german shepherd"),
    ],
)
def test_clean_imagenet_label(raw: str, clean: str) -> None:
    assert L.clean_imagenet_label(raw) == clean


def test_imagenet_to_coco_ranges_and_homonyms() -> None:
    assert L.imagenet_to_coco(151, "chihuahua") == "dog"
    assert L.imagenet_to_coco(268, "mexican hairless") == "dog"
    assert L.imagenet_to_coco(281, "tabby") == "cat"
    assert L.imagenet_to_coco(504, "coffee mug") == "cup"
    # ImageNet "kite" (index 21) is a bird of prey, never the COCO toy kite.
    assert L.imagenet_to_coco(21, "kite") == "bird"
    assert L.imagenet_to_coco(292, "tiger") is None  # a big cat, not a COCO cat
    assert L.imagenet_to_coco(999, "toilet tissue") is None
    assert set(L.IMAGENET_TO_COCO.values()) <= set(L.COCO_NAMES)


def test_cdla_concepts_are_readable() -> None:
    assert L.CDLA_TO_CONCEPT["table_caption"] == "table caption"
    assert "chart" not in L.CDLA_TO_CONCEPT.values()  # figure is not mapped to chart, see labels.py
