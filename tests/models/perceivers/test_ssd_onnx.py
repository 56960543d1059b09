"""The SSD's numpy post-processing and the graph readers, on small inputs built here (fast, no model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vimrag.models.perceivers.ssd_onnx import (
    PostSpec,
    PriorSpec,
    decode,
    detections,
    feature_size,
    prior_boxes,
)
from vimrag.models.perceivers.tf_graph import TfGraphError, parse_text_graph, read_constants


def _varint(n: int) -> bytes:
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _const(name: str, values: np.ndarray) -> bytes:
    """A NodeDef ``Const`` holding a float32 tensor, in protobuf wire format (as TF writes it)."""
    shape = b"".join(_field(2, _varint(1 << 3) + _varint(d)) for d in values.shape)
    tensor = _varint(1 << 3) + _varint(1) + _field(2, shape) + _field(4, values.astype("<f4").tobytes())
    attr = _field(1, b"value") + _field(2, _field(8, tensor))
    return _field(1, name.encode()) + _field(2, b"Const") + _field(5, attr)


def test_read_constants_from_a_frozen_graph(tmp_path: Path) -> None:
    w = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    b = np.array([0.5, -1.0], dtype=np.float32)
    graph = tmp_path / "g.pb"
    graph.write_bytes(_field(1, _const("conv/weights", w)) + _field(1, _const("conv/biases", b)))
    got = read_constants(graph, {"conv/weights", "conv/biases", "absent"})
    assert set(got) == {"conv/weights", "conv/biases"}
    assert (got["conv/weights"] == w).all() and got["conv/weights"].shape == (2, 3, 4)
    assert (got["conv/biases"] == b).all()
    graph.write_bytes(graph.read_bytes()[:-7])  # truncated mid-field
    with pytest.raises(TfGraphError, match="truncated"):
        read_constants(graph, {"conv/weights"})


def test_parse_text_graph(tmp_path: Path) -> None:
    text = tmp_path / "g.pbtxt"
    text.write_text('node { name: "c1" op: "Conv2D" input: "x" input: "c1/w"\n'
                    '  attr { key: "strides" value { list { i: 1 i: 2 i: 2 i: 1 } } }\n'
                    '  attr { key: "padding" value { s: "SAME" } } }\n'
                    'node { name: "p" op: "PriorBox" input: "c1"\n'
                    '  attr { key: "width" value { tensor { dtype: DT_FLOAT float_val: 30.0 float_val: 42.5 } } }\n'
                    '  attr { key: "eps" value { f: 0.001 } } }\n')
    conv, prior = parse_text_graph(text)
    assert (conv.name, conv.op, conv.inputs) == ("c1", "Conv2D", ["x", "c1/w"])
    assert conv.ints("strides") == [1, 2, 2, 1] and conv.string("padding") == "SAME"
    assert prior.floats("width") == [30.0, 42.5] and prior.number("eps") == pytest.approx(0.001)
    text.write_text('node { name: "c1" op: "Conv2D" ')
    with pytest.raises(TfGraphError, match="unclosed"):
        parse_text_graph(text)
    text.write_text('node { name: "c1" op: "Conv2D" } } node { name: "c2" op: "Relu6" }')
    with pytest.raises(TfGraphError, match="unbalanced"):
        parse_text_graph(text)
    text.write_text("library { }")
    with pytest.raises(TfGraphError, match="no graph nodes"):
        parse_text_graph(text)


def test_prior_boxes_follow_opencv_layout() -> None:
    """SSD-MobileNet-v2's six levels at 300 px: 19², 10², 5², 3², 2², 1² cells → 1,917 anchors."""
    assert [feature_size(300, (2,) * k) for k in range(4, 10)] == [19, 10, 5, 3, 2, 1]
    spec = PriorSpec(strides=(2, 2, 2, 2), widths=(30.0, 60.0), heights=(30.0, 15.0), variance=(0.1, 0.1, 0.2, 0.2))
    boxes, var = prior_boxes([spec], 300, 300)
    assert boxes.shape == (19 * 19 * 2, 4) and var.shape == boxes.shape
    step = 300 / 19
    cx = cy = 0.5 * step  # first cell, first anchor: centred on the cell, 30 px square
    assert boxes[0] == pytest.approx([(cx - 15) / 300, (cy - 15) / 300, (cx + 15) / 300, (cy + 15) / 300])
    assert boxes[1] == pytest.approx([(cx - 30) / 300, (cy - 7.5) / 300, (cx + 30) / 300, (cy + 7.5) / 300])
    assert boxes[2, 0] > boxes[0, 0]  # anchors vary fastest, then x, then y
    assert (var == np.array([0.1, 0.1, 0.2, 0.2], dtype=np.float32)).all()


def test_decode_reads_tf_order() -> None:
    """TF encodes (ty, tx, th, tw): a shift in tx moves x only, th scales the height only."""
    prior = np.array([[0.4, 0.4, 0.6, 0.6]], dtype=np.float32)
    var = np.array([[0.1, 0.1, 0.2, 0.2]], dtype=np.float32)
    box = decode(np.array([[0.0, 1.0, np.log(2) / 0.2, 0.0]], dtype=np.float32), prior, var)[0]
    assert box == pytest.approx([0.42, 0.3, 0.62, 0.7], abs=1e-6)


def test_detections_are_per_class_nms() -> None:
    post = PostSpec(confidence_threshold=0.01, nms_threshold=0.6, top_k=100, keep_top_k=3)
    boxes = np.array([[0, 0, 1, 1], [0, 0, 1, 0.95], [0, 0, 0.3, 0.3], [0.5, 0.5, 1, 1]], dtype=np.float32)
    scores = np.zeros((4, 91), dtype=np.float32)
    scores[:, 1] = [0.9, 0.8, 0.7, 0.005]  # class 1: anchor 1 overlaps anchor 0 (IoU 0.95); anchor 3 below the floor
    scores[1, 5] = 0.6  # class 5 on anchor 1: another class is never suppressed by class 1
    scores[:, 0] = 0.99  # the background column is never a detection
    rows = detections(scores, boxes, post)
    assert [(int(r[0]), round(float(r[1]), 2)) for r in rows] == [(1, 0.9), (1, 0.7), (5, 0.6)]
    assert rows[2, 2:] == pytest.approx(boxes[1])
    assert len(detections(scores, boxes, PostSpec(0.01, 0.6, 100, 2))) == 2  # keep_top_k overall


def test_onnx_writer_builds_a_model_onnxruntime_runs() -> None:
    """Every attribute kind the detector uses (ints, int, float, string) and a negative int, checked by
    running the written model in ONNX Runtime against numpy."""
    ort = pytest.importorskip("onnxruntime")
    from vimrag.models.perceivers import onnx_proto as proto

    bias = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    nodes = [
        proto.Node("Transpose", ["x"], ["t"], {"perm": [0, 2, 1]}),
        proto.Node("LeakyRelu", ["t"], ["r"], {"alpha": 0.5}),
        proto.Node("Add", ["r", "bias"], ["a"]),
        proto.Node("Flatten", ["a"], ["y"], {"axis": -1}),
        proto.Node("Conv", ["img", "w"], ["c"], {"auto_pad": "SAME_UPPER", "strides": [2, 2], "kernel_shape": [3, 3]}),
    ]
    weights = np.ones((1, 1, 3, 3), dtype=np.float32)
    model = proto.model("t", nodes, [proto.tensor("bias", bias), proto.tensor("w", weights)],
                        [proto.value_info("x", ["N", 3, 2]), proto.value_info("img", [1, 1, 4, 4])],
                        [proto.value_info("y", ["N", "F"]), proto.value_info("c", [1, 1, 2, 2])])
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    x = np.array([[[1, -2], [-4, 8], [3, -6]]], dtype=np.float32)
    img = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    y, c = session.run(None, {"x": x, "img": img})
    t = x.transpose(0, 2, 1)
    assert y == pytest.approx((np.where(t > 0, t, 0.5 * t) + bias).reshape(-1, 3))
    # SAME_UPPER, stride 2 on 4×4: TF pads one row/column at the far side only
    padded = np.pad(img[0, 0], ((0, 1), (0, 1)))
    assert c[0, 0] == pytest.approx(np.array([[padded[i:i + 3, j:j + 3].sum() for j in (0, 2)] for i in (0, 2)]))


def test_a_graph_outside_the_builders_scope_is_a_clear_error(tmp_path: Path) -> None:
    from vimrag.models.perceivers.ssd_onnx import build_model

    graph = tmp_path / "g.pb"
    graph.write_bytes(_field(1, _const("w", np.ones((3, 3, 3, 8), dtype=np.float32))))
    text = tmp_path / "g.pbtxt"
    text.write_text('node { name: "x" op: "Placeholder" }\n'
                    'node { name: "c" op: "Conv2D" input: "x" input: "w" }\n')  # no strides, no padding
    with pytest.raises(TfGraphError, match="not the SSD text graph"):
        build_model(graph, text)
    text.write_text('node { name: "x" op: "Placeholder" }\nnode { name: "s" op: "Softmax" input: "x" }\n')
    with pytest.raises(TfGraphError, match="does not know"):
        build_model(graph, text)
    text.write_text('node { name: "x" op: "Placeholder" }\n')
    with pytest.raises(TfGraphError, match="not an SSD"):
        build_model(graph, text)
