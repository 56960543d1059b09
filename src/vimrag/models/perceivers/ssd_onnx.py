"""The COCO SSD-MobileNet-v2 on ONNX Runtime, rebuilt from its TF frozen graph (issue 16: speed).

OpenCV DNN ran the detector's 11 passes per photo at ~0.07 s each on a 2-core AVX2 machine; ONNX Runtime
runs the same network at ~0.033 s (``benchmarks/coco_perception.py`` and ``ingest_throughput.py`` carry
the end-to-end figures). No converted model is published and converting with ``tf2onnx`` needs
TensorFlow, so :func:`build_model` writes the ONNX graph itself from OpenCV's text graph (layer order and
attributes: 55 convolutions, 21 depthwise, 64 batch norms, ReLU6, residual adds, the 6 box predictors)
and the frozen graph's constants (:mod:`vimrag.models.perceivers.tf_graph`). The post-processing that
OpenCV's text graph names — ``PriorBox`` and ``DetectionOutput`` — is reproduced in numpy with OpenCV's
semantics (prior boxes in pixels of the actual input, CENTER_SIZE decoding with variances, per-class
greedy NMS after a confidence floor and a per-class top-k, then a global keep-top-k). The tests check
scores and boxes against OpenCV where its TensorFlow importer exists (scores agree to ~1e-5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vimrag._extras import require
from vimrag.models.perceivers import onnx_proto as proto
from vimrag.models.perceivers.tf_graph import TextNode, TfGraphError, parse_text_graph, read_constants

N_COLUMNS = 91  # background + 90 COCO category ids


@dataclass(frozen=True)
class PriorSpec:
    """One ``PriorBox`` layer: the strides from the input to its feature map, and its box sizes."""

    strides: tuple[int, ...]
    widths: tuple[float, ...]
    heights: tuple[float, ...]
    variance: tuple[float, ...]
    offset: float = 0.5


@dataclass(frozen=True)
class PostSpec:
    """``DetectionOutput``'s attributes."""

    confidence_threshold: float
    nms_threshold: float
    top_k: int
    keep_top_k: int


@dataclass
class SsdGraph:
    """A built network: serialized ONNX plus what the numpy post-processing needs."""

    onnx: bytes
    priors: list[PriorSpec]
    post: PostSpec


@dataclass
class SsdNet:
    """The network before serialization: ONNX nodes in order and their constants by name, so that
    :mod:`~vimrag.models.perceivers.ssd_int8` can rewrite it (fold, quantize) before :meth:`encode`."""

    nodes: list[proto.Node]
    constants: dict[str, np.ndarray]
    priors: list[PriorSpec]
    post: PostSpec

    def encode(self, extra_outputs: tuple[str, ...] = ()) -> SsdGraph:
        """The serialized graph; ``extra_outputs`` also exposes those intermediate tensors (calibration)."""
        outputs = [proto.value_info("scores", ["N", "S"]), proto.value_info("boxes", ["N", "B"])]
        outputs += [proto.value_info(o, None) for o in extra_outputs]
        model = proto.model("ssd_mobilenet_v2_coco", self.nodes, [proto.tensor(k, v) for k, v in self.constants.items()],
                            [proto.value_info("image", ["N", 3, "H", "W"])], outputs)
        return SsdGraph(model, self.priors, self.post)


def _conv_weights(op: str, w: np.ndarray) -> tuple[np.ndarray, int]:
    """TF filter layout → ONNX OIHW, and the group count (depthwise: one group per input channel)."""
    if op == "DepthwiseConv2dNative":  # [H, W, C, multiplier] → [C·m, 1, H, W]
        h, k, c, m = w.shape
        return w.transpose(2, 3, 0, 1).reshape(c * m, 1, h, k), c
    return w.transpose(3, 2, 0, 1), 1  # [H, W, in, out] → [out, in, H, W]


def build_model(graph: str | Path, config: str | Path) -> SsdGraph:
    """ONNX graph ``image`` [N, 3, H, W] (RGB, 0–255) → ``scores`` [N, anchors·91] (sigmoid) and
    ``boxes`` [N, anchors·4] (TF's encodings), from the text graph's layers and the frozen constants.

    A graph that does not fit (a missing attribute, a weight of the wrong shape) is a :class:`TfGraphError`.
    """
    return build_net(graph, config).encode()


def build_net(graph: str | Path, config: str | Path) -> SsdNet:
    """:func:`build_model`'s network before serialization."""
    try:
        return _build(graph, config)
    except (KeyError, IndexError, ValueError, StopIteration) as exc:
        raise TfGraphError(f"{config}: not the SSD text graph this builder reads ({exc!r})") from exc


def _build(graph: str | Path, config: str | Path) -> SsdNet:
    nodes = parse_text_graph(config)
    produced = {n.name for n in nodes}
    wanted = {i for n in nodes for i in n.inputs if i not in produced}
    consts = read_constants(graph, wanted)

    def const(name: str) -> np.ndarray:
        if name not in consts:
            raise TfGraphError(f"{graph}: constant {name} not found")
        return consts[name]

    inits: dict[str, np.ndarray] = {}
    layers: list[proto.Node] = []
    tensor: dict[str, str] = {}  # TF node → ONNX tensor
    strides: dict[str, tuple[int, ...]] = {}  # TF node → strides from the input
    biases: dict[str, str] = {}  # conv output → the BiasAdd constant that follows it
    heads: dict[str, list[str]] = {"ClassPredictor": [], "BoxEncodingPredictor": []}
    priors: list[PriorSpec] = []
    post: PostSpec | None = None

    def init(name: str, value: np.ndarray | float) -> str:
        inits[name] = np.asarray(value, dtype=np.float32)
        return name

    for n in nodes:
        if n.op == "BiasAdd":
            biases[n.inputs[0]] = n.inputs[1]
    for n in nodes:
        src = tensor.get(n.inputs[0], "") if n.inputs else ""
        step = strides.get(n.inputs[0], ()) if n.inputs else ()
        if n.op == "Placeholder":
            tensor[n.name], strides[n.name] = "image", ()
            continue
        elif n.op in ("Mul", "Sub"):  # the preprocessor: x · (2/255) − 1
            layers.append(proto.Node(n.op, [src, init(n.name + "/c", const(n.inputs[1]))], [n.name]))
        elif n.op in ("Conv2D", "DepthwiseConv2dNative"):
            w, group = _conv_weights(n.op, const(n.inputs[1]))
            stride = n.ints("strides")[1:3]
            inputs = [src, init(n.name + "/w", w)]
            if n.name in biases:
                inputs.append(init(n.name + "/b", const(biases.pop(n.name))))
            pad = "SAME_UPPER" if n.string("padding") == "SAME" else "VALID"  # TF pads the far side
            layers.append(proto.Node("Conv", inputs, [n.name], {"strides": stride, "group": group,
                                                                "auto_pad": pad, "kernel_shape": list(w.shape[2:])}))
            step = (*step, stride[0])
        elif n.op == "FusedBatchNorm":
            gamma, beta, mean, var = (init(f"{n.name}/{i}", const(x)) for i, x in enumerate(n.inputs[1:5]))
            layers.append(proto.Node("BatchNormalization", [src, gamma, beta, mean, var], [n.name],
                                     {"epsilon": n.number("epsilon")}))
        elif n.op == "Relu6":
            layers.append(proto.Node("Clip", [src, init(n.name + "/lo", 0.0), init(n.name + "/hi", 6.0)], [n.name]))
        elif n.op == "Add":
            layers.append(proto.Node("Add", [src, tensor[n.inputs[1]]], [n.name]))
        elif n.op in ("BiasAdd", "Identity"):  # biases are folded into their convolution above
            tensor[n.name], strides[n.name] = src, step
            continue
        elif n.op == "Flatten":  # TF flattens NHWC: anchors vary fastest within a cell
            layers.append(proto.Node("Transpose", [src], [n.name + "/nhwc"], {"perm": [0, 2, 3, 1]}))
            layers.append(proto.Node("Flatten", [n.name + "/nhwc"], [n.name], {"axis": 1}))
            heads[next(h for h in heads if h in n.name)].append(n.name)
        elif n.op == "PriorBox":
            priors.append(_prior_spec(n, step))
            continue
        elif n.op == "DetectionOutput":
            post = PostSpec(n.number("confidence_threshold"), n.number("nms_threshold"),
                            int(n.number("top_k")), int(n.number("keep_top_k")))
            continue
        elif n.op in ("ConcatV2", "Sigmoid", "Const"):  # the heads' concatenation is written below
            continue
        else:
            raise TfGraphError(f"{config}: layer {n.name} has op {n.op}, which this builder does not know")
        tensor[n.name], strides[n.name] = n.name, step
    if biases:
        raise TfGraphError(f"{config}: BiasAdd after a non-convolution ({', '.join(sorted(biases))})")
    if post is None or not priors or not heads["ClassPredictor"]:
        raise TfGraphError(f"{config}: not an SSD text graph (no PriorBox / DetectionOutput / ClassPredictor)")
    layers.append(proto.Node("Concat", heads["ClassPredictor"], ["logits"], {"axis": 1}))
    layers.append(proto.Node("Sigmoid", ["logits"], ["scores"]))
    layers.append(proto.Node("Concat", heads["BoxEncodingPredictor"], ["boxes"], {"axis": 1}))
    return SsdNet(layers, inits, priors, post)


def _prior_spec(n: TextNode, strides: tuple[int, ...]) -> PriorSpec:
    if n.attrs.get("flip") and str(dict(n.attrs["flip"]).get("b")) == "true":
        raise TfGraphError(f"PriorBox {n.name}: flip is not supported")
    offset = n.number("offset") if "offset" in n.attrs else 0.5
    return PriorSpec(strides, tuple(n.floats("width")), tuple(n.floats("height")), tuple(n.floats("variance")),
                     offset)


def feature_size(side: int, strides: tuple[int, ...]) -> int:
    """A SAME-padded feature map's side: each stride-s convolution gives ceil(side / s)."""
    for s in strides:
        side = math.ceil(side / s)
    return side


def prior_boxes(specs: list[PriorSpec], height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's ``PriorBox`` for an input of ``height``×``width``: boxes [A, 4] (x0, y0, x1, y1, relative
    to the input) and variances [A, 4]. Box sizes are in pixels of the input, as OpenCV reads them."""
    boxes, variances = [], []
    for spec in specs:
        fh, fw = feature_size(height, spec.strides), feature_size(width, spec.strides)
        step_y, step_x = height / fh, width / fw
        cy, cx = np.meshgrid((np.arange(fh) + spec.offset) * step_y, (np.arange(fw) + spec.offset) * step_x,
                             indexing="ij")
        bw = np.asarray(spec.widths, dtype=np.float64) / 2
        bh = np.asarray(spec.heights, dtype=np.float64) / 2
        cx, cy = cx[..., None], cy[..., None]  # [fh, fw, anchors]
        level = np.stack([(cx - bw) / width, (cy - bh) / height, (cx + bw) / width, (cy + bh) / height], axis=-1)
        boxes.append(level.reshape(-1, 4))
        variances.append(np.broadcast_to(np.asarray(spec.variance, dtype=np.float64), (level.size // 4, 4)))
    return np.concatenate(boxes).astype(np.float32), np.concatenate(variances).astype(np.float32)


def decode(encodings: np.ndarray, priors: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """CENTER_SIZE decoding (OpenCV ``DetectionOutput``): encodings [A, 4] → boxes [A, 4] (x0, y0, x1, y1).

    TF's box predictor writes (ty, tx, th, tw); the variances are (x, y, w, h).
    """
    pw, ph = priors[:, 2] - priors[:, 0], priors[:, 3] - priors[:, 1]
    pcx, pcy = (priors[:, 0] + priors[:, 2]) / 2, (priors[:, 1] + priors[:, 3]) / 2
    cx = variances[:, 0] * encodings[:, 1] * pw + pcx
    cy = variances[:, 1] * encodings[:, 0] * ph + pcy
    w = np.exp(variances[:, 2] * encodings[:, 3]) * pw
    h = np.exp(variances[:, 3] * encodings[:, 2]) * ph
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def _pairwise_iou(boxes: np.ndarray) -> np.ndarray:
    """IoU of every pair of boxes [n, 4] (normalized coordinates, no +1 as OpenCV for normalized boxes)."""
    x0 = np.maximum(boxes[:, None, 0], boxes[None, :, 0])
    y0 = np.maximum(boxes[:, None, 1], boxes[None, :, 1])
    x1 = np.minimum(boxes[:, None, 2], boxes[None, :, 2])
    y1 = np.minimum(boxes[:, None, 3], boxes[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area[:, None] + area[None, :] - inter
    return np.where(inter > 0, inter / np.maximum(union, 1e-12), 0.0)


def detections(scores: np.ndarray, boxes: np.ndarray, post: PostSpec) -> np.ndarray:
    """Per-class greedy NMS as OpenCV's ``DetectionOutput``: rows (column, score, x0, y0, x1, y1).

    ``scores`` [A, 91] (column 0 is the background), ``boxes`` [A, 4] decoded. Per class: scores above
    the confidence floor, the ``top_k`` best, NMS at the IoU threshold; then the ``keep_top_k`` best overall.
    """
    rows: list[tuple[int, float, int]] = []
    for col in np.flatnonzero((scores[:, 1:] > post.confidence_threshold).any(axis=0)) + 1:
        cand = np.flatnonzero(scores[:, col] > post.confidence_threshold)
        cand = cand[np.argsort(-scores[cand, col], kind="stable")][: post.top_k]
        overlap = _pairwise_iou(boxes[cand]) > post.nms_threshold
        alive = np.ones(len(cand), dtype=bool)
        for i in range(len(cand)):
            if alive[i]:  # kept: it suppresses the lower-scored boxes it overlaps
                rows.append((int(col), float(scores[cand[i], col]), int(cand[i])))
                alive[i + 1:] &= ~overlap[i, i + 1:]
    rows.sort(key=lambda r: -r[1])
    rows = rows[: post.keep_top_k]
    out = np.zeros((len(rows), 6), dtype=np.float32)
    for k, (label, score, anchor) in enumerate(rows):
        out[k] = (label, score, *boxes[anchor])
    return out


class OnnxSsd:
    """An ONNX Runtime session over :func:`build_model`'s graph (its bytes, or a file holding them, such as
    :mod:`~vimrag.models.perceivers.ssd_cache`'s entry); priors cached per input size."""

    def __init__(self, model: bytes | str | Path, priors: list[PriorSpec], post: PostSpec, threads: int = 0) -> None:
        ort = require("onnxruntime", "local", "onnxruntime")
        self.prior_specs, self.post = priors, post  # not the 67 MB graph: ORT holds it
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        # Idle ORT threads spin by default and then slow the classifier (LiteRT) and the Python work
        # between passes: a detector + classifier round took 0.241 s with spinning, 0.206 s without.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        source = model if isinstance(model, bytes) else str(model)
        try:
            self._session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT's Fail / InvalidGraph / … share no base class below Exception
            raise TfGraphError(f"ONNX Runtime refused the rebuilt detector graph: {exc}") from exc
        self._priors: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def run(self, blob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``blob`` [N, 3, H, W] → per-anchor class scores [N, A, 91] and encodings [N, A, 4]."""
        scores, boxes = self._session.run(None, {"image": np.ascontiguousarray(blob, dtype=np.float32)})
        n = blob.shape[0]
        return scores.reshape(n, -1, N_COLUMNS), boxes.reshape(n, -1, 4)

    def detect(self, scores: np.ndarray, encodings: np.ndarray, height: int, width: int) -> np.ndarray:
        """One image's detections (rows of :func:`detections`), boxes relative to the input."""
        if (height, width) not in self._priors:
            self._priors[(height, width)] = prior_boxes(self.prior_specs, height, width)
        priors, variances = self._priors[(height, width)]
        if len(priors) != len(encodings):
            raise TfGraphError(f"{len(encodings)} anchors from the network, {len(priors)} priors computed")
        return detections(scores, decode(encodings, priors, variances), self.post)
