"""The detector's int8 copy for the absence views: folding and quantization checked on a small graph
against ONNX Runtime's float result, the real copy against the float detector on COCO close-ups, and
ranges that are missing, broken or for another graph refused with a clear error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vimrag.errors import ModelUnavailableError
from vimrag.models.perceivers import onnx_proto as proto
from vimrag.models.perceivers import ssd_cache, ssd_int8
from vimrag.models.perceivers.ssd_onnx import PostSpec, SsdNet

COCO = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "coco128-train"


def _small_net(rng: np.random.Generator) -> SsdNet:
    """The detector's layer kinds in miniature: preprocessing, conv + batch norm + ReLU6, a depthwise
    conv with bias, a residual add and a head conv."""
    c = {
        "m": np.float32(2 / 255), "s": np.float32(1.0),
        "c1/w": rng.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32),
        "bn/0": rng.uniform(0.5, 1.5, 4).astype(np.float32), "bn/1": rng.normal(0, 0.2, 4).astype(np.float32),
        "bn/2": rng.normal(0, 0.2, 4).astype(np.float32), "bn/3": rng.uniform(0.5, 1.5, 4).astype(np.float32),
        "lo": np.float32(0), "hi": np.float32(6),
        "dw/w": rng.normal(0, 0.5, (4, 1, 3, 3)).astype(np.float32), "dw/b": rng.normal(0, 0.1, 4).astype(np.float32),
        "head/w": rng.normal(0, 0.3, (5, 4, 1, 1)).astype(np.float32), "head/b": rng.normal(0, 0.1, 5).astype(np.float32),
    }  # fmt: skip
    same = {"auto_pad": "SAME_UPPER", "strides": [1, 1]}
    nodes = [
        proto.Node("Mul", ["image", "m"], ["pre/mul"]),
        proto.Node("Sub", ["pre/mul", "s"], ["pre"]),
        proto.Node("Conv", ["pre", "c1/w"], ["c1"], {**same, "group": 1, "kernel_shape": [3, 3]}),
        proto.Node("BatchNormalization", ["c1", "bn/0", "bn/1", "bn/2", "bn/3"], ["bn"], {"epsilon": 1e-3}),
        proto.Node("Clip", ["bn", "lo", "hi"], ["relu"]),
        proto.Node("Conv", ["relu", "dw/w", "dw/b"], ["dw"], {**same, "group": 4, "kernel_shape": [3, 3]}),
        proto.Node("Add", ["dw", "relu"], ["sum"]),
        proto.Node("Conv", ["sum", "head/w", "head/b"], ["head"], {**same, "group": 1, "kernel_shape": [1, 1]}),
        proto.Node("Flatten", ["head"], ["scores"], {"axis": 1}),
        proto.Node("Flatten", ["dw"], ["boxes"], {"axis": 1}),
    ]
    return SsdNet(nodes, c, [], PostSpec(0.01, 0.6, 100, 100))


def _run(onnx: bytes, x: np.ndarray, names: tuple[str, ...] = ("scores",)) -> list[np.ndarray]:
    ort = pytest.importorskip("onnxruntime")
    return ort.InferenceSession(onnx, providers=["CPUExecutionProvider"]).run(list(names), {"image": x})


def test_folding_keeps_the_float_result_and_quantizing_stays_within_a_few_steps() -> None:
    rng = np.random.default_rng(0)
    net = _small_net(rng)
    images = [rng.uniform(0, 255, (1, 3, 12, 12)).astype(np.float32) for _ in range(6)]
    want = [_run(net.encode().onnx, x)[0] for x in images]
    folded = ssd_int8.fold(net)
    assert [n.op_type for n in folded.nodes].count("BatchNormalization") == 0
    for x, w in zip(images, want, strict=True):
        assert _run(folded.encode().onnx, x)[0] == pytest.approx(w, abs=1e-4)
    names = ssd_int8.activations(folded)
    assert names == ["pre", "relu", "dw", "sum", "head"]  # a ReLU6 after a conv: its output is the tensor
    calib = folded.encode(tuple(names)).onnx
    outs = [_run(calib, x, tuple(names)) for x in images]
    ranges = ssd_int8.Ranges({n: (min(float(o[i].min()) for o in outs), max(float(o[i].max()) for o in outs))
                              for i, n in enumerate(names)})
    qnet = ssd_int8.quantize(folded, ranges)
    quantized = qnet.encode().onnx
    ops = [n.op_type for n in qnet.nodes]
    assert "Clip" not in ops and ops.count("QuantizeLinear") == len(names)
    spread = max(float(w.max() - w.min()) for w in want)
    for x, w in zip(images, want, strict=True):
        got = _run(quantized, x)[0]
        assert np.abs(got - w).max() < 0.05 * spread  # a few uint8 steps of the head's range
        assert np.abs(got - w).max() > 0  # it really is the quantized graph


def test_ranges_that_are_missing_broken_or_for_another_graph_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "ranges.json"
    bad.write_text("{not json")
    with pytest.raises(ModelUnavailableError, match="detector_int8_absence=false"):
        ssd_int8.load_ranges(bad)
    with pytest.raises(ModelUnavailableError):
        ssd_int8.load_ranges(tmp_path / "absent.json")
    bad.write_text('{"tensors": {"x": [1.0, "nan"]}}')
    with pytest.raises(ModelUnavailableError, match="no usable ranges"):
        ssd_int8.load_ranges(bad)
    net = ssd_int8.fold(_small_net(np.random.default_rng(1)))
    with pytest.raises(ModelUnavailableError, match="do not belong to this detector"):
        ssd_int8.quantize(net, ssd_int8.Ranges({"pre": (-1.0, 1.0)}))


def test_the_shipped_ranges_cover_the_detector_and_key_their_own_cache_entry(tmp_path: Path) -> None:
    ranges = ssd_int8.load_ranges()
    assert len(ranges.tensors) > 80 and "coco128" in ranges.meta["fitted_on"]
    graph, config = tmp_path / "g.pb", tmp_path / "g.pbtxt"
    graph.write_bytes(b"x")
    config.write_text("y")
    keys = {ssd_cache.entry_key(graph, config), ssd_cache.entry_key(graph, config, ranges),
            ssd_cache.entry_key(graph, config, ssd_int8.Ranges({"pre": (-1.0, 1.0)}))}
    assert len(keys) == 3


@pytest.mark.slow
def test_int8_close_ups_score_like_the_float_detector(tmp_path: Path) -> None:
    """The shipped copy on real close-ups (the held-out half of coco128): scores within a few hundredths
    on average; over a photo's tiles (what vetoes an absence) every class the float network is sure of
    is still clearly seen; and a 4× smaller graph."""
    from vimrag.models.perceivers.base import augmented_views
    from vimrag.models.perceivers.detector import CocoDetector

    photos = sorted((COCO / "images").glob("*.jpg"))[100:104]
    if not photos:
        pytest.skip(f"{COCO} not present (the shared dev data sits beside the checkout)")
    det = CocoDetector(cache=tmp_path, workers=1)
    diffs = []
    for path in photos:
        with Image.open(path) as im:
            views = augmented_views(im.convert("RGB"), "tiles3")
        f = np.stack([det.detect(v, boxes=False).scores for v in views])
        q = np.stack([det.detect(v, boxes=False, int8=True).scores for v in views])
        diffs.append(np.abs(f - q).ravel())
        assert np.all(q.max(0)[f.max(0) > 0.5] > 0.3)
    d = np.concatenate(diffs)
    assert d.mean() < 0.02 and d.max() > 0  # close, and not the float network again
    sizes = sorted(p.stat().st_size for p in tmp_path.glob("*.onnx"))
    assert len(sizes) == 2 and sizes[0] * 3 < sizes[1]  # int8 weights: one entry of each
