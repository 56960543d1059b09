"""The embedded closed-set perceiver with its real models (slow) and its failure modes (fast)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vimrag.config import Config
from vimrag.errors import ConfigError, ModelUnavailableError, VimragError
from vimrag.models.base import Perceiver
from vimrag.models.perceivers import make_perceiver
from vimrag.models.perceivers.classifier import ImageNetClassifier
from vimrag.models.perceivers.detector import CocoDetector
from vimrag.models.perceivers.labels import CDLA_CLASSES, COCO_NAMES
from vimrag.models.perceivers.layout import LayoutDetector
from vimrag.models.perceivers.local import LocalPerceiver, LocalPerceiverOptions


def _models_or_skip() -> None:
    try:
        CocoDetector()._files()
        LayoutDetector().load()
    except (ModelUnavailableError, ImportError) as exc:
        pytest.skip(f"closed-set models not installed: {exc}")


@pytest.fixture(scope="module")
def perceiver() -> LocalPerceiver:
    _models_or_skip()
    return LocalPerceiver(LocalPerceiverOptions(ocr=False, score_power=1.0))  # raw model confidences


def _scores(perc) -> dict[str, float]:
    return {c.concept: c.score for c in perc.concepts}


# ---------------------------------------------------------------------------------------------- fast
def test_factory_builds_a_lazy_local_perceiver() -> None:
    cfg = Config().with_overrides({"polar.tta": "identity,tiles", "ingest.ocr": "false"})
    p = make_perceiver(cfg)
    assert isinstance(p, LocalPerceiver) and isinstance(p, Perceiver)
    assert p.options.tta == ("identity", "tiles") and p.options.ocr is False
    assert not p.detector._nets and not p.detector._sessions and p.classifier._interp is None  # nothing loaded yet
    assert p.detector.runtime == "onnxruntime"
    assert make_perceiver(cfg.with_overrides({"models.detector_runtime": "opencv"})).detector.runtime == "opencv"
    with pytest.raises(ConfigError, match="detector_runtime"):
        make_perceiver(cfg.with_overrides({"models.detector_runtime": "tensorflow"}))
    split = cfg.polar.partition_for(p.name)  # the partition rules its scores need
    assert split.absence == "unanimous" and split.kappa == cfg.polar.local_kappa
    default = make_perceiver(Config())
    assert default.options.tta == ("identity", "hflip") and default.options.absence_views == ("tiles3",)
    assert default.options.score_power == 0.33
    none = make_perceiver(Config().with_overrides({"polar.absence_views": ""}))
    assert none.options.absence_views == ()
    with pytest.raises(ConfigError, match="unknown test-time augmentation"):
        make_perceiver(Config().with_overrides({"polar.absence_views": "tiles9"}))


def test_unknown_absence_rule_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="local_absence"):
        make_perceiver(Config().with_overrides({"polar.local_absence": "majority"}))


def test_missing_model_files_raise_model_unavailable(tmp_path) -> None:
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        CocoDetector(graph=tmp_path / "missing.pb").load()
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        ImageNetClassifier(model=tmp_path / "missing.tflite").load()
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        LayoutDetector(model=tmp_path / "missing.onnx").load()
    p = LocalPerceiver(detector=CocoDetector(graph=tmp_path / "missing.pb"))
    with pytest.raises(ModelUnavailableError):
        p.perceive(Image.new("RGB", (32, 32)))


@pytest.mark.parametrize("runtime", ["onnxruntime", "opencv"])
def test_corrupt_model_file_is_reported(tmp_path, runtime: str) -> None:
    pytest.importorskip("cv2")
    bad = tmp_path / "bad.pb"
    bad.write_bytes(b"not a graph")
    cfg = tmp_path / "bad.pbtxt"
    cfg.write_text("garbage {")
    with pytest.raises(ModelUnavailableError, match="cannot (load|rebuild)"):
        CocoDetector(graph=bad, config=cfg, runtime=runtime).load()
    # a readable text graph over a corrupt frozen graph: the constants cannot be read
    real_config = CocoDetector()._files()[1]
    with pytest.raises(ModelUnavailableError, match="cannot (load|rebuild)"):
        CocoDetector(graph=bad, config=real_config, runtime=runtime).load()


@pytest.mark.slow
def test_check_reports_the_int8_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    """``vimrag models list`` loads the close-ups' int8 copy too: a missing ranges asset is one line with its
    reason, and switching the copy off makes the detector fine again."""
    _models_or_skip()
    from vimrag.models.perceivers import ssd_int8

    monkeypatch.setattr(ssd_int8, "RANGES_ASSET", "missing_ranges.json")
    rows = dict(LocalPerceiver(LocalPerceiverOptions(ocr=False)).check())
    assert "activation ranges" in rows[CocoDetector.name] and "detector_int8_absence=false" in rows[CocoDetector.name]
    rows = dict(LocalPerceiver(LocalPerceiverOptions(ocr=False, int8_absence=False)).check())
    assert rows[CocoDetector.name] == ""


def test_bad_input_and_options() -> None:
    p = LocalPerceiver()
    with pytest.raises(VimragError, match="empty image"):
        p.perceive(Image.new("RGB", (0, 5)))
    with pytest.raises(VimragError, match="unknown image kind"):
        p.perceive(Image.new("RGB", (5, 5)), kind="video")
    with pytest.raises(VimragError, match="PIL image"):
        p.perceive("photo.jpg")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        LocalPerceiverOptions(tta=("identity", "rot90"))
    with pytest.raises(ConfigError):
        LocalPerceiverOptions(ocr_photos="sometimes")


# ---------------------------------------------------------------------------------------------- slow
@pytest.mark.slow
def test_coffee_has_a_cup_and_no_person(perceiver: LocalPerceiver, coffee: Image.Image) -> None:
    perc = perceiver.perceive(coffee)
    s = _scores(perc)
    assert s["cup"] > 0.8
    assert s["person"] < 0.1
    cup = next(c for c in perc.concepts if c.concept == "cup")
    assert cup.box is not None and cup.origin == "detector"
    x0, y0, x1, y1 = cup.box
    assert 0 <= x0 < x1 <= coffee.width and 0 <= y0 < y1 <= coffee.height
    # + the 3×3 tiles, which the detector alone scores (absence views)
    assert perc.meta["model_calls"] == {"detector": 2 + 9, "classifier": 2, "layout": 0, "ocr": 0}


@pytest.mark.slow
def test_astronaut_is_a_person(perceiver: LocalPerceiver, astronaut: Image.Image) -> None:
    s = _scores(perceiver.perceive(astronaut))
    assert s["person"] > 0.6 and s["cat"] < 0.1


@pytest.mark.slow
def test_chelsea_is_a_cat_and_the_classifier_proposes_a_breed(perceiver: LocalPerceiver, chelsea) -> None:
    perc = perceiver.perceive(chelsea)
    s = _scores(perc)
    assert s["cat"] > 0.8 and s["dog"] < 0.2 and s["person"] < 0.2
    extra = [c for c in perc.concepts if c.origin == "classifier"]
    assert 1 <= len(extra) <= 5 and all(c.concept not in COCO_NAMES for c in extra)
    assert any(c.concept.endswith("cat") or c.concept == "tabby" for c in extra)


@pytest.mark.slow
def test_all_80_classes_scored_once_per_augmentation(chelsea: Image.Image) -> None:
    _models_or_skip()
    tta = ("identity", "hflip", "tiles")
    p = LocalPerceiver(
        LocalPerceiverOptions(tta=tta, absence_views=("tiles3",), ocr=False, classifier=False, score_power=1.0)
    )
    perc = p.perceive(chelsea)
    det = [c for c in perc.concepts if c.origin == "detector"]
    assert [c.concept for c in det] == list(COCO_NAMES)
    assert all(len(c.scores) == len(tta) and all(0.0 <= s <= 1.0 for s in c.scores) for c in det)
    assert all(len(c.veto) == 1 and 0.0 <= c.veto[0] <= 1.0 for c in det)  # the 3×3 tiles: veto only
    assert perc.meta["model_calls"]["detector"] == 1 + 1 + 4 + 9  # identity, hflip, 2×2 and 3×3 tiles
    assert perc.meta["absence_views"] == ["tiles3"]
    assert perc.meta["tta"] == list(tta)
    # Without classifier fusion the identity score is the detector's own max confidence.
    direct = p.detector.detect(chelsea).scores
    cat = COCO_NAMES.index("cat")
    assert det[cat].scores[0] == pytest.approx(float(direct[cat]), abs=1e-6)


@pytest.mark.slow
def test_absence_views_run_on_the_int8_copy_and_only_they(chelsea: Image.Image) -> None:
    """With ``int8_absence`` (the default) the 9 close-ups run on the int8 detector: the ensemble scores
    are the float network's to the last digit, the veto scores close to it; off, all is float."""
    _models_or_skip()
    detector = CocoDetector()
    on, off = (LocalPerceiver(LocalPerceiverOptions(ocr=False, classifier=False, int8_absence=flag), detector=detector)
               for flag in (True, False))
    a, b = on.perceive(chelsea), off.perceive(chelsea)
    assert a.meta["absence_int8"] and not b.meta["absence_int8"]
    assert a.meta["model_calls"] == b.meta["model_calls"]
    da, db = ([c for c in p.concepts if c.origin == "detector"] for p in (a, b))
    assert all(x.scores == y.scores for x, y in zip(da, db, strict=True))
    veto = np.array([[x.veto[0], y.veto[0]] for x, y in zip(da, db, strict=True)])
    assert 0 < np.abs(veto[:, 0] - veto[:, 1]).max() < 0.2
    cat = COCO_NAMES.index("cat")
    assert veto[cat, 0] > 0.8  # the cat fills the photo: every close-up still sees it


@pytest.mark.slow
def test_page_layout_scores_table_high(perceiver: LocalPerceiver, table_page, text_page) -> None:
    perc = perceiver.perceive(table_page, kind="page")
    assert [c.concept for c in perc.concepts] == [c.replace("_", " ") for c in CDLA_CLASSES]
    s = _scores(perc)
    assert s["table"] > 0.7 and s["text"] > 0.7
    assert all(len(c.scores) == 1 and c.origin == "layout" for c in perc.concepts)
    assert perc.meta["model_calls"]["detector"] == 0  # pages are not run through the COCO detector
    assert _scores(perceiver.perceive(text_page, kind="page"))["table"] < 0.3


@pytest.mark.slow
def test_page_ocr_reads_the_text(table_page) -> None:
    _models_or_skip()
    pytest.importorskip("rapidocr")
    assert LocalPerceiver(LocalPerceiverOptions(ocr=True)).perceive(table_page, kind="page").text == ""
    perc = LocalPerceiver(LocalPerceiverOptions(ocr=True, ocr_pages=True)).perceive(table_page, kind="page")
    assert "Quarterly Report" in perc.text and perc.meta["model_calls"]["ocr"] == 1


@pytest.mark.slow
def test_a_figure_reads_its_bar_values_with_their_categories() -> None:
    import io

    from vimrag.demo.corpus import REVENUE_MEUR, _chart_png

    _models_or_skip()
    pytest.importorskip("rapidocr")
    chart = Image.open(io.BytesIO(_chart_png())).convert("RGB")
    perc = LocalPerceiver(LocalPerceiverOptions(ocr=True, classifier=False))
    want = "Values by label: " + "; ".join(f"{q} = {v:.1f}" for q, v in REVENUE_MEUR.items())
    text = perc.perceive(chart, kind="figure").text
    assert text.splitlines()[-1].startswith(want)  # "ε3" read, Q3 repaired
    assert "Revenue by quarter" in text and "0.5" not in text  # the title stays, the unpaired ticks go
    photo = LocalPerceiver(LocalPerceiverOptions(ocr=True, ocr_photos="always", classifier=False),
                           detector=perc.detector)
    assert "Values by label" not in photo.perceive(chart).text  # only figures are read as charts


@pytest.mark.slow
def test_photo_ocr_modes(perceiver: LocalPerceiver, coffee: Image.Image) -> None:
    calls: list[Image.Image] = []

    class _Ocr:
        text = "menu"

    def fake_ocr(img, min_confidence=0.0):  # counts calls; the real OCR is covered above
        calls.append(img)
        return _Ocr()

    auto = LocalPerceiver(
        LocalPerceiverOptions(ocr=True, ocr_photos="auto"),
        detector=perceiver.detector,
        classifier=perceiver.classifier,
        ocr=fake_ocr,
    )
    assert auto.perceive(coffee).text == "" and not calls  # a coffee cup is not text-like
    always = LocalPerceiver(
        LocalPerceiverOptions(ocr=True, ocr_photos="always"),
        detector=perceiver.detector,
        classifier=perceiver.classifier,
        ocr=fake_ocr,
    )
    assert always.perceive(coffee).text == "menu" and len(calls) == 1


@pytest.mark.slow
def test_default_calibration_is_a_power_of_the_raw_scores(
    perceiver: LocalPerceiver, coffee: Image.Image
) -> None:
    shipped = LocalPerceiver(
        LocalPerceiverOptions(ocr=False), detector=perceiver.detector, classifier=perceiver.classifier
    )
    gamma = shipped.options.score_power
    assert 0 < gamma < 1
    raw = {c.concept: c.scores for c in perceiver.perceive(coffee).concepts}
    cal = {c.concept: c.scores for c in shipped.perceive(coffee).concepts}
    assert raw.keys() == cal.keys()
    for name in ("cup", "person", "bowl"):
        assert cal[name] == pytest.approx([s**gamma for s in raw[name]], abs=1e-5)
    # Monotone: the ranking of concepts is unchanged, only the spacing of low scores grows.
    order = sorted(raw, key=lambda n: -np.mean(raw[n]))
    assert order[:10] == sorted(cal, key=lambda n: -np.mean(cal[n]))[:10]


@pytest.mark.slow
def test_ocr_of_a_photo_without_text_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    """RapidOCR's "text detection result is empty" warning (with ANSI colours) broke --json output on stderr."""
    from vimrag.models.ocr import ocr_image

    pytest.importorskip("rapidocr")
    assert ocr_image(Image.new("RGB", (200, 100), (255, 255, 255))).text == ""
    captured = capfd.readouterr()
    assert "\x1b[" not in captured.err and "detection result is empty" not in captured.err
