"""Quality of the embedded perceiver + PolarMem partition on coco128 (HAS / NOT_HAS / UNCERTAIN vs labels).

COCO labels every instance of its 80 classes, so a class missing from an image's label file is absent
from the image: each (image, class) pair has a ground truth, and the partition's verdicts can be scored.

What is measured, per variant (test-time augmentations × classifier fusion × γ × κ × absence rule ×
absence views, the augmentations that may only veto NOT_HAS):
* per-class HAS precision / recall, micro and macro averages;
* NOT_HAS precision — how often a NOT_HAS verdict is truly absent (what negative queries rely on) — and
  the *miss rates*: of the present (image, class) pairs, the fraction called NOT_HAS / UNCERTAIN; of the
  absent pairs, the fraction called NOT_HAS (what lets "A but not B" verify anything at all);
* UNCERTAIN fraction; seconds per image (from per-call timings, the default variant also end-to-end).

Honesty about tuning: the 128 images are split by file order into two halves (first 64 "dev", last 64
"test"). The dev half alone cannot separate the safest variants — it holds 195 present (image, class)
pairs, and several variants call none of them NOT_HAS — so the variant is chosen by two-fold
cross-validation (SELECTION_RULE): it must meet the constraints on *both* halves. Both halves were
therefore looked at; no coco128 image is an untouched test set for the chosen variant (the project's
independent checks use other COCO images). Figures for every
variant are reported on both halves, so nothing is hidden.

Run: ``python benchmarks/coco_perception.py [--limit N] [--data ../shared/data/coco128-train] [--cache raw.npz]``
Output: ``benchmarks/results/coco_perception.json`` and a table on stdout.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from vimrag.config import ABSENCE_RULES, Config  # noqa: E402
from vimrag.models.base import ConceptScore  # noqa: E402
from vimrag.models.perceivers.base import augmented_views, detector_side, to_rgb  # noqa: E402
from vimrag.models.perceivers.labels import COCO_NAMES  # noqa: E402
from vimrag.models.perceivers.local import LocalPerceiver, LocalPerceiverOptions  # noqa: E402
from vimrag.polar.concepts import normalize_concept  # noqa: E402
from vimrag.polar.partition import partition  # noqa: E402

AUGS = ("identity", "hflip", "tiles", "zoom", "tiles3", "hires")
TTA_VARIANTS = (("identity",), ("identity", "hflip"), ("identity", "tiles"), ("identity", "hflip", "tiles"),
                ("identity", "hflip", "zoom"), ("identity", "tiles3"), ("identity", "hflip", "tiles3"))  # fmt: skip
VETO_VARIANTS = ((), ("tiles",), ("tiles3",), ("hires",))  # absence views (only with the "unanimous" rule)
VETO_KAPPAS = (0.0, 1.0, 2.0)  # margin of the absence views' own partition
KAPPAS = (0.5, 1.0, 2.0, 3.0)
POWERS = (1.0, 0.5, 0.33)
# Selection (two-fold, see the module docstring). Negative queries need three things: an object that is
# there must (almost) never be called absent — a safety budget on present→NOT_HAS, met on both halves;
# HAS must stay precise, or "A" is wrong; and within those, as many absent objects as possible verified
# absent, or "A but not B" finds little. (A lexicographic "min present→NOT_HAS first" rule is decided by
# single (image, class) pairs at this data size — one pair is 0.5 % — and then trades 15–20 points of
# absent→NOT_HAS for it; a budget is the stabler formulation.)
MAX_PRESENT_NOT_HAS = 0.01
MIN_HAS_PRECISION = 0.80
SELECTION_RULE = (f"max mean absent→NOT_HAS s.t. present→NOT_HAS ≤ {MAX_PRESENT_NOT_HAS} and HAS precision ≥ "
                  f"{MIN_HAS_PRECISION} on both halves; ties: max mean HAS micro-F1, then fewer model calls")  # fmt: skip
# Rows singled out in the report: (tta, fuse_classifier, score_power, kappa, absence, absence views, veto κ).
HIGHLIGHTS = {
    "raw scores, paper κ (baseline)": (("identity", "hflip"), True, 1.0, 0.5, "mean", (), None),
    "γ=0.5, paper κ=0.5": (("identity", "hflip"), True, 0.5, 0.5, "mean", (), None),
    "previous default (γ=0.5, κ=2)": (("identity", "hflip"), True, 0.5, 2.0, "mean", (), None),
    "γ=0.33, κ=2": (("identity", "hflip"), True, 0.33, 2.0, "mean", (), None),
    "tiles3 in the ensemble, γ=0.33, κ=2": (("identity", "hflip", "tiles3"), True, 0.33, 2.0, "mean", (), None),
    "veto tiles3, κ_v=1, no classifier fusion": (("identity", "hflip"), False, 0.33, 2.0, "unanimous", ("tiles3",), 1.0),
    "shipped: γ=0.33, κ=2, veto tiles3 (κ_v=0)": (("identity", "hflip"), True, 0.33, 2.0, "unanimous", ("tiles3",), 0.0),
    "γ=0.33, κ=2, veto hires (600 px, κ_v=0)": (("identity", "hflip"), True, 0.33, 2.0, "unanimous", ("hires",), 0.0),
}


# ------------------------------------------------------------------------------------------ partition
def project_partition(
    concepts: list[ConceptScore], kappa: float, absence: str, veto_kappa: float = 0.0,
    anchors: tuple[float, ...] = (0.0, 1.0),
) -> np.ndarray:  # fmt: skip
    """The project's partition (``vimrag.polar.partition``, Eq. 5–6) → −1/0/+1 for the 80 COCO classes."""
    ev = {e.concept: int(e.polarity) for e in partition(concepts, kappa, anchors, absence, veto_kappa)}
    return np.asarray([ev[normalize_concept(n)] for n in COCO_NAMES], dtype=np.int8)


# ------------------------------------------------------------------------------------------ data
def load_truth(data: Path, images: list[Path]) -> np.ndarray:
    truth = np.zeros((len(images), len(COCO_NAMES)), dtype=bool)
    for i, img in enumerate(images):
        lab = data / "labels" / (img.stem + ".txt")
        if lab.is_file():
            for line in lab.read_text().splitlines():
                if line.strip():
                    truth[i, int(line.split()[0])] = True
    return truth


def raw_pass(perceiver: LocalPerceiver, images: list[Path]) -> dict:
    """Detector scores and classifier COCO evidence per image and augmentation, plus per-call seconds.

    Uses the perceiver's own models and view code; the variants are then composed without re-running.
    """
    det = np.zeros((len(images), len(AUGS), len(COCO_NAMES)), dtype=np.float32)
    cls = np.zeros_like(det)
    probs: list[list[np.ndarray]] = []
    secs = np.zeros((len(images), len(AUGS), 2))
    for i, path in enumerate(images):
        rgb = to_rgb(Image.open(path))
        per_aug = []
        for a, aug in enumerate(AUGS):
            views = augmented_views(rgb, aug)
            t = time.perf_counter()
            for v in views:
                det[i, a] = np.maximum(det[i, a], perceiver.detector.detect(v, detector_side(aug)).scores)
            t2 = time.perf_counter()
            p = np.max([perceiver.classifier.probabilities(v) for v in views], axis=0)
            secs[i, a] = (t2 - t, time.perf_counter() - t2)
            cls[i, a] = perceiver.classifier.coco_evidence(p, COCO_NAMES)
            per_aug.append(p)
        probs.append(per_aug)
        if (i + 1) % 16 == 0:
            print(f"  raw pass {i + 1}/{len(images)}", file=sys.stderr)
    return {"det": det, "cls": cls, "probs": probs, "secs": secs}


def verdicts(raw: dict, perceiver: LocalPerceiver, tta: tuple[str, ...], fuse: bool, kappa: float,
             absence: str, veto: tuple[str, ...] = (), veto_kappa: float = 0.0) -> np.ndarray:  # fmt: skip
    """(n_images, 80) verdicts −1/0/+1 for one variant, built as LocalPerceiver + build_items do.

    ``perceiver.options.score_power`` is applied by ``perceiver.calibrate``; the per-augmentation scores go
    to the partition as one ensemble per concept and the ``veto`` augmentations as ``ConceptScore.veto``.
    """
    idx = [AUGS.index(a) for a in tta]
    vidx = [AUGS.index(a) for a in veto]
    out = np.zeros(raw["det"].shape[::2], dtype=np.int8)
    for i in range(raw["det"].shape[0]):
        s = raw["det"][i]
        if fuse:
            s = np.maximum(s, raw["cls"][i])
        s = perceiver.calibrate(s)
        sv = perceiver.calibrate(raw["det"][i])  # absence views: the detector alone (LocalPerceiver)
        concepts = [
            ConceptScore(n, [float(x) for x in s[idx, j]], None, "detector", [float(x) for x in sv[vidx, j]])
            for j, n in enumerate(COCO_NAMES)
        ]
        concepts += perceiver.classifier_concepts(np.stack([raw["probs"][i][j] for j in idx]))
        out[i] = project_partition(concepts, kappa, absence, veto_kappa)
    return out


CALIBRATION_L2 = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)  # shrinkage towards the global curve, chosen by two-fold log loss


def fit_calibration(raw: dict, truth: np.ndarray, perceiver: LocalPerceiver, out: Path) -> dict:
    """Fit the per-class Platt curves of ``vimrag.models.perceivers.calibration`` on the stored scores s_c
    the shipped perceiver would give (fused identity + hflip, γ), choose the shrinkage by two-fold log loss
    (fit on one half, score the other), then fit on every image and write the package's table to ``out``."""
    from vimrag.config import PolarConfig
    from vimrag.models.perceivers.calibration import Calibration, PlattTable, fit_platt, log_loss

    polar = PolarConfig()
    idx = [AUGS.index(a) for a in polar.tta]
    s_c = perceiver.calibrate(np.maximum(raw["det"], raw["cls"])[:, idx]).mean(1)
    n = len(s_c)
    halves = (np.arange(n // 2), np.arange(n // 2, n))
    losses = {}
    for l2 in CALIBRATION_L2:
        losses[l2] = float(np.mean([log_loss(fit_platt(s_c[tr], truth[tr], l2), s_c[te], truth[te])
                                    for tr, te in (halves, halves[::-1])]))
    best = min(losses, key=lambda k: losses[k])
    raw_loss = log_loss(PlattTable(np.zeros(truth.shape[1]), np.ones(truth.shape[1])), s_c, truth)
    meta = {"fitted_on": f"coco128-train, {n} photos, every (photo, class) pair", "score_power": polar.local_score_power,
            "tta": list(polar.tta), "fuse_classifier": True, "l2": best,
            "two_fold_log_loss": {str(k): round(v, 5) for k, v in losses.items()},
            "log_loss_uncalibrated": round(raw_loss, 5), "fit": "benchmarks/coco_perception.py --fit"}  # fmt: skip
    cal = Calibration(tuple(normalize_concept(c) for c in COCO_NAMES), fit_platt(s_c, truth, best), meta)
    out.write_text(json.dumps(cal.to_json(), indent=None) + "\n")
    return meta


def metrics(v: np.ndarray, truth: np.ndarray) -> dict:
    has, nh, unc = v == 1, v == -1, v == 0
    tp = (has & truth).sum(0)
    prec = np.divide(tp, has.sum(0), out=np.full(truth.shape[1], np.nan), where=has.sum(0) > 0)
    rec = np.divide(tp, truth.sum(0), out=np.full(truth.shape[1], np.nan), where=truth.sum(0) > 0)
    micro_p = float(tp.sum() / max(1, has.sum()))
    micro_r = float(tp.sum() / max(1, truth.sum()))
    present = truth.sum(0) > 0
    return {
        "has_precision_micro": micro_p,
        "has_recall_micro": micro_r,
        "has_f1_micro": 2 * micro_p * micro_r / max(1e-9, micro_p + micro_r),
        "has_precision_macro": float(np.nanmean(prec[present & ~np.isnan(prec)])) if present.any() else None,
        "has_recall_macro": float(np.nanmean(rec[present])) if present.any() else None,
        "not_has_precision": float((nh & ~truth).sum() / max(1, nh.sum())),
        "present_called_not_has": float((nh & truth).sum() / max(1, truth.sum())),
        "present_called_uncertain": float((unc & truth).sum() / max(1, truth.sum())),
        "absent_called_has": float((has & ~truth).sum() / max(1, (~truth).sum())),
        "absent_called_not_has": float((nh & ~truth).sum() / max(1, (~truth).sum())),
        "uncertain_fraction": float(unc.mean()),
        "n_pairs": int(truth.size),
        "n_present": int(truth.sum()),
        "per_class": {
            COCO_NAMES[c]: {"n": int(truth[:, c].sum()), "precision": _r(prec[c]), "recall": _r(rec[c])}
            for c in range(truth.shape[1]) if truth[:, c].sum() > 0 or has[:, c].sum() > 0
        },
    }  # fmt: skip


def _rounded(x: object) -> object:
    """Floats to 4 decimals, recursively (the JSON is read by people and diffs; 4 decimals is 1/10000)."""
    if isinstance(x, float):
        return round(x, 4)
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_rounded(v) for v in x]
    return x


def _r(x: float) -> float | None:
    return None if np.isnan(x) else round(float(x), 4)


def end_to_end(images: list[Path], n: int) -> dict:
    """The real LocalPerceiver (shipped config, OCR off) + partition on the first n images: seconds per image."""
    cfg = Config().with_overrides({"ingest.ocr": "false"})
    p = LocalPerceiver.from_config(cfg)
    p.perceive(to_rgb(Image.open(images[0])))  # load models outside the timing
    secs, calls = [], []
    for path in images[:n]:
        t = time.perf_counter()
        perc = p.perceive(Image.open(path))
        secs.append(time.perf_counter() - t)
        calls.append(sum(perc.meta["model_calls"].values()))
        split = cfg.polar.partition_for(p.name)
        partition(perc.concepts, split.kappa, split.anchors, split.absence, split.veto_kappa)
    return {"tta": list(p.options.tta), "images": n, "seconds_per_image_mean": float(np.mean(secs)), "seconds_per_image_p50":
            float(np.median(secs)), "model_calls_per_image": float(np.mean(calls))}  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "coco128-train"))
    ap.add_argument("--limit", type=int, default=0, help="use only the first N images (0 = all)")
    ap.add_argument("--e2e", type=int, default=16, help="images timed end-to-end through LocalPerceiver")
    ap.add_argument(
        "--cache", default="", help="npz file to save/load the raw model outputs (for re-analysis)"
    )
    ap.add_argument("--full", action="store_true", help="print every variant (test split)")
    ap.add_argument("--fit", action="store_true", help="also fit the per-class calibration the package ships")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "coco_perception.json"))
    args = ap.parse_args(argv)
    data = Path(args.data)
    images = sorted((data / "images").glob("*.jpg"))
    if args.limit:
        images = images[: args.limit]
    if not images:
        raise SystemExit(f"no images under {data / 'images'}")
    truth = load_truth(data, images)
    perceiver = LocalPerceiver(LocalPerceiverOptions(ocr=False))
    t0 = time.perf_counter()
    cache = Path(args.cache) if args.cache else None
    if cache is not None and cache.is_file():
        z = np.load(cache)
        raw = {"det": z["det"], "cls": z["cls"], "secs": z["secs"], "probs": list(z["probs"])}
        raw_s = float(z["raw_s"])
        perceiver.classifier.load()
    else:
        raw = raw_pass(perceiver, images)
        raw_s = time.perf_counter() - t0
        if cache is not None:
            np.savez_compressed(
                cache,
                det=raw["det"],
                cls=raw["cls"],
                secs=raw["secs"],
                probs=np.asarray(raw["probs"], dtype=np.float32),
                raw_s=raw_s,
            )
    if args.fit:
        asset = ROOT / "src" / "vimrag" / "models" / "assets" / "coco_calibration.json"
        print("calibration:", fit_calibration(raw, truth, perceiver, asset), "→", asset)
    half = len(images) // 2
    splits = {"dev": slice(0, half), "test": slice(half, len(images)), "all": slice(0, len(images))}
    variants = []
    for tta, fuse, power, kappa, absence, veto, vk in itertools.product(
        TTA_VARIANTS, (False, True), POWERS, KAPPAS, ABSENCE_RULES, VETO_VARIANTS, (None, *VETO_KAPPAS)
    ):
        if (vk is None) != (not veto):
            continue  # a veto margin exactly when there are veto views
        if absence == "mean" and veto:
            continue  # veto views are read by the unanimous rule only
        if absence == "unanimous" and len(tta) == 1 and not veto:
            continue  # one view: the same as "mean"
        if set(veto) & set(tta):
            continue
        p = LocalPerceiver(
            LocalPerceiverOptions(ocr=False, score_power=power), classifier=perceiver.classifier
        )
        v = verdicts(raw, p, tta, fuse, kappa, absence, veto, 0.0 if vk is None else vk)
        idx, vidx = [AUGS.index(a) for a in tta], [AUGS.index(a) for a in veto]
        # the classifier never runs on the veto views (LocalPerceiver._photo_concepts)
        sec = float(raw["secs"][:, idx + vidx, 0].sum(1).mean() + raw["secs"][:, idx, 1].sum(1).mean())
        row = {"tta": list(tta), "fuse_classifier": fuse, "score_power": power, "kappa": kappa,
               "absence": absence, "absence_views": list(veto), "veto_kappa": vk,
               "seconds_per_image_models": sec}  # fmt: skip
        for name, sl in splits.items():
            row[name] = metrics(v[sl], truth[sl])
        variants.append(row)

    folds = ("dev", "test")

    def rank(r: dict) -> tuple[float, float, float]:
        useful = float(np.mean([r[f]["absent_called_not_has"] for f in folds]))
        f1 = float(np.mean([r[f]["has_f1_micro"] for f in folds]))
        return (-useful, -f1, r["seconds_per_image_models"])

    usable = [
        r
        for r in variants
        if all(
            r[f]["present_called_not_has"] <= MAX_PRESENT_NOT_HAS and r[f]["has_precision_micro"] >= MIN_HAS_PRECISION
            for f in folds
        )
    ]
    chosen = min(usable or variants, key=rank)
    result = {
        "data": str(data),
        "images": len(images),
        "partition": "vimrag.polar.partition.partition (Eq. 5–6)",
        "anchors": [0.0, 1.0],
        "raw_pass_seconds": raw_s,
        "seconds_per_call_identity_view": {
            "detector": float(raw["secs"][:, 0, 0].mean()),
            "classifier": float(raw["secs"][:, 0, 1].mean()),
        },
        "highlights": {
            name: copy.deepcopy(next(
                r
                for r in variants
                if (tuple(r["tta"]), r["fuse_classifier"], r["score_power"], r["kappa"], r["absence"],
                    tuple(r["absence_views"]), r["veto_kappa"]) == key  # fmt: skip
            ))
            for name, key in HIGHLIGHTS.items()
        },
        "selection_rule": SELECTION_RULE,
        "chosen": {
            k: chosen[k]
            for k in ("tta", "fuse_classifier", "score_power", "kappa", "absence", "absence_views", "veto_kappa")
        },
        "chosen_metrics": copy.deepcopy({f: chosen[f] for f in ("dev", "test", "all")}),
        "end_to_end_default": end_to_end(images, min(args.e2e, len(images))),
        "variants": variants,
    }
    for r in variants:  # per-class tables only for the highlighted and chosen variants: ~1,150 rows otherwise
        for split in splits:
            r[split].pop("per_class", None)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_rounded(result), indent=1))
    print_table(result, args.full)
    return result


def _row(label: str, r: dict, split: str) -> str:
    m = r[split]
    return (f"{label:<46}{split:<6}{m['has_precision_micro']:>7.3f}{m['has_recall_micro']:>7.3f}"
            f"{m['has_precision_macro']:>7.3f}{m['has_recall_macro']:>7.3f}{m['not_has_precision']:>8.4f}"
            f"{m['present_called_not_has']:>9.3f}{m['present_called_uncertain']:>9.3f}{m['absent_called_not_has']:>8.3f}"
            f"{m['uncertain_fraction']:>6.3f}"
            f"{r['seconds_per_image_models']:>7.2f}")  # fmt: skip


def print_table(result: dict, full: bool = False) -> None:
    print(f"coco128 perception: {result['images']} images, partition = {result['partition']}")
    print(f"{'variant (tta/fuse/γ/κ/absence/veto)':<46}{'split':<6}{'P(HAS)':>7}{'R(HAS)':>7}{'mP':>7}{'mR':>7}{'P(NOT)':>8}"
          f"{'pres→NOT':>9}{'pres→UNC':>9}{'abs→NOT':>8}{'UNC':>6}{'s/img':>7}")  # fmt: skip
    rows = list(result["highlights"].items()) + [
        (
            "chosen (two-fold rule)",
            result["chosen"]
            | {
                k: v
                for k, v in next(
                    r
                    for r in result["variants"]
                    if all(r[x] == result["chosen"][x] for x in result["chosen"])
                ).items()
            },
        )
    ]
    for name, r in rows:
        for split in ("dev", "test", "all"):
            print(_row(name if split == "dev" else "", r, split))
    if full:
        for r in result["variants"]:
            label = (f"{'+'.join(r['tta'])}/{str(r['fuse_classifier'])[0]}/{r['score_power']}/{r['kappa']}/"
                     f"{r['absence'][0]}/{'+'.join(r['absence_views']) or '-'}/{r['veto_kappa']}")  # fmt: skip
            print(_row(label, r, "test"))
    print("selection:", result["selection_rule"], "→", result["chosen"])
    print("end-to-end (shipped defaults, OCR off):", result["end_to_end_default"])


if __name__ == "__main__":
    main()
