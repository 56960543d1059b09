"""An int8 copy of the COCO detector for the absence views (issue 16: speed; deviation, `models.detector_int8_absence`).

A photo costs 11 detector passes, 9 of them the 3×3 close-up tiles whose scores may only veto an absence
(``polar.absence_views``). Those nine run on this copy: batch norms folded into their convolutions,
weights int8 per output channel, activations uint8 per tensor, written in ONNX's QDQ form (each tensor
``QuantizeLinear`` → ``DequantizeLinear``) so that ONNX Runtime fuses every convolution into one
``QLinearConv`` at load. ~1.7× faster a pass on a 2-core AVX2 machine (``benchmarks/detector_int8.py``).

The recipe is ONNX Runtime's static quantization (``quantize_static``, QDQ, per-channel, ``reduce_range``),
written here because its ``onnx`` dependency costs 1.4 s to import (see :mod:`.onnx_proto`):

* weights: symmetric, 7 bits (−64…64) — ``reduce_range``: without it the u8×s8 kernels of AVX2 machines
  without VNNI saturate their 16-bit sums, and 30 % of the classes above 0.5 crossed 0.5 (8 % with it);
* activations: asymmetric uint8 over each tensor's calibrated [min, max] (with 0 inside), min/max
  fitted on coco128 close-ups and shipped as ``assets/ssd_int8_ranges.json`` (:func:`load_ranges`);
* a ReLU6 after a convolution is dropped: the tensor's range lies in [0, 6], so the quantizer's
  saturation is the clip;
* biases int32 at the input scale × the weight scale;
* the first convolution's output stays float (the asset's ``keep_float``), so the depthwise convolution
  after it runs in float: of the 87 tensors, quantizing that one alone caused 30 % of the close-ups' score
  error (mean |Δ| on classes above 0.3: 0.036 → 0.026, p95 0.18 → 0.11) for 2 ms a pass.

Why only the absence views: int8 scores moved the Otsu split of the identity and flip passes (absent →
NOT_HAS 79 % → 64 % on coco128, HAS recall −2 points), while as vetoes they changed absent → NOT_HAS by
< 0.5 points and present → NOT_HAS not at all (design notes, "The close-ups in int8").
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from vimrag.errors import ModelUnavailableError
from vimrag.models.perceivers import onnx_proto as proto
from vimrag.models.perceivers.ssd_onnx import SsdGraph, SsdNet, build_net

RANGES_ASSET = "ssd_int8_ranges.json"
_W_MAX = 64  # reduce_range: int8 weights in −64…64 (7 bits)


@dataclass(frozen=True)
class Ranges:
    """Each activation tensor's calibrated [min, max], with how they were fitted; ``keep_float``: the
    tensors left in float (with the convolutions that read them)."""

    tensors: dict[str, tuple[float, float]]
    meta: dict[str, Any] = field(default_factory=dict)
    keep_float: tuple[str, ...] = ()

    def digest(self) -> str:
        """What the quantized graph depends on, for cache keys."""
        return hashlib.sha256(json.dumps([sorted(self.tensors.items()), self.keep_float]).encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        return {"meta": self.meta, "keep_float": list(self.keep_float),
                "tensors": {k: [float(lo), float(hi)] for k, (lo, hi) in self.tensors.items()}}


def load_ranges(path: str | Path | None = None) -> Ranges:
    """The shipped ranges (or ``path``'s); a missing or broken file is a :class:`ModelUnavailableError`."""
    try:
        text = Path(path).read_text() if path else resources.files("vimrag.models").joinpath("assets", RANGES_ASSET).read_text(encoding="utf-8")
        d = json.loads(text)
        tensors = {str(k): (float(v[0]), float(v[1])) for k, v in d["tensors"].items()}
    except (OSError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise ModelUnavailableError(
            f"int8 detector: cannot read its activation ranges {path or RANGES_ASSET} ({exc}); reinstall vimrag, "
            "or set models.detector_int8_absence=false"
        ) from exc
    if not tensors or any(not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi) for lo, hi in tensors.values()):
        raise ModelUnavailableError(f"int8 detector: {path or RANGES_ASSET} holds no usable ranges")
    return Ranges(tensors, dict(d.get("meta", {})), tuple(str(t) for t in d.get("keep_float", [])))


def fold(net: SsdNet) -> SsdNet:
    """Each ``BatchNormalization`` folded into the convolution before it: w·γ/√(σ²+ε), β − μ·γ/√(σ²+ε)."""
    consts = dict(net.constants)
    nodes: list[proto.Node] = []
    position: dict[str, int] = {}  # a tensor → the index in ``nodes`` of the node that writes it
    for n in net.nodes:
        if n.op_type != "BatchNormalization":
            position[n.outputs[0]] = len(nodes)
            nodes.append(n)
            continue
        at = position.get(n.inputs[0])
        if at is None or nodes[at].op_type != "Conv" or len(nodes[at].inputs) != 2:
            raise ValueError(f"batch norm {n.outputs[0]} does not follow a convolution without bias")
        conv = nodes[at]
        gamma, beta, mean, var = (consts.pop(i) for i in n.inputs[1:5])
        eps = float(n.attrs.get("epsilon", 1e-5))  # type: ignore[arg-type]
        k = gamma / np.sqrt(var + eps)
        w, b = conv.inputs[1], f"{conv.outputs[0]}/b"
        consts[w] = (consts[w] * k.reshape(-1, 1, 1, 1)).astype(np.float32)
        consts[b] = (beta - mean * k).astype(np.float32)
        nodes[at] = proto.Node("Conv", [conv.inputs[0], w, b], n.outputs, conv.attrs)
        position[n.outputs[0]] = at
    return replace(net, nodes=nodes, constants=consts)


def activations(net: SsdNet) -> list[str]:
    """The tensors that are quantized, in graph order: the preprocessor's output, every convolution's
    (after its ReLU6 when one follows) and every residual sum."""
    consumers: dict[str, list[proto.Node]] = {}
    for n in net.nodes:
        for i in n.inputs:
            consumers.setdefault(i, []).append(n)
    out: list[str] = []
    for n in net.nodes:
        t = n.outputs[0]
        if n.op_type == "Conv":
            after = consumers.get(t, [])
            out.append(after[0].outputs[0] if len(after) == 1 and after[0].op_type == "Clip" else t)
        elif n.op_type in ("Sub", "Add"):
            out.append(t)
    return out


def calibration_graph(graph: str | Path, config: str | Path) -> tuple[SsdGraph, list[str]]:
    """The folded float graph with every tensor :func:`quantize` needs a range for as an extra output."""
    net = fold(build_net(graph, config))
    names = activations(net)
    return net.encode(tuple(names)), names


def _act_params(lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0 or 1.0
    return np.asarray(scale, np.float32), np.asarray(np.clip(round(-lo / scale), 0, 255), np.uint8)


def quantize(net: SsdNet, ranges: Ranges, keep_float: frozenset[str] = frozenset()) -> SsdNet:
    """The QDQ copy of a :func:`fold`-ed network (see the module docstring). Tensors in ``keep_float``
    stay float, and so do the convolutions that read them."""
    names = [t for t in activations(net) if t not in keep_float]
    missing = [t for t in names if t not in ranges.tensors]
    if missing:
        raise ModelUnavailableError(f"int8 detector: no calibrated range for {len(missing)} tensors ({missing[0]}, …); "
                                    "the ranges do not belong to this detector")
    consts = dict(net.constants)
    qparams: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    clipped = {}  # a Clip's output → the convolution that now writes it directly
    producer = {n.outputs[0]: n for n in net.nodes}
    for n in net.nodes:
        if n.op_type == "Clip" and producer[n.inputs[0]].op_type == "Conv" and n.outputs[0] in names:
            clipped[n.outputs[0]] = n.inputs[0]
            for c in n.inputs[1:]:
                consts.pop(c, None)
    renamed = {conv_out: clip_out for clip_out, conv_out in clipped.items()}
    nodes: list[proto.Node] = []

    def dq(tensor: str) -> str:
        return f"{tensor}/dq" if tensor in qparams else tensor

    for n in net.nodes:
        if n.outputs[0] in clipped:
            continue
        inputs = [dq(i) for i in n.inputs]
        outputs = [renamed.get(o, o) for o in n.outputs]
        if n.op_type == "Conv" and n.inputs[0] in qparams:
            inputs = _quantized_conv(inputs, n.inputs[0], consts, qparams, nodes)
        nodes.append(proto.Node(n.op_type, inputs, outputs, n.attrs))
        t = outputs[0]
        if t in names:
            lo, hi = ranges.tensors[t]
            if t in clipped:  # the ReLU6 is the quantizer's saturation
                lo, hi = 0.0, min(hi, 6.0)
            scale, zp = _act_params(lo, hi)
            qparams[t] = (scale, zp)
            consts[f"{t}/s"], consts[f"{t}/zp"] = scale, zp
            nodes.append(proto.Node("QuantizeLinear", [t, f"{t}/s", f"{t}/zp"], [f"{t}/q"]))
            nodes.append(proto.Node("DequantizeLinear", [f"{t}/q", f"{t}/s", f"{t}/zp"], [f"{t}/dq"]))
    return replace(net, nodes=nodes, constants=consts)


def _quantized_conv(inputs: list[str], x: str, consts: dict[str, np.ndarray],
                    qparams: dict[str, tuple[np.ndarray, np.ndarray]], nodes: list[proto.Node]) -> list[str]:
    """A convolution's weight and bias as int8 / int32 constants behind ``DequantizeLinear`` (per output
    channel), its input already quantized; the nodes that dequantize them are appended to ``nodes``."""
    w_name = inputs[1]
    w = consts.pop(w_name)
    absmax = np.abs(w).reshape(len(w), -1).max(axis=1)
    w_scale = np.where(absmax > 0, absmax / _W_MAX, 1.0).astype(np.float32)
    consts[f"{w_name}/q"] = np.clip(np.round(w / w_scale.reshape(-1, 1, 1, 1)), -_W_MAX, _W_MAX).astype(np.int8)
    consts[f"{w_name}/s"], consts[f"{w_name}/zp"] = w_scale, np.zeros(len(w), np.int8)
    nodes.append(proto.Node("DequantizeLinear", [f"{w_name}/q", f"{w_name}/s", f"{w_name}/zp"], [f"{w_name}/dq"], {"axis": 0}))
    out = [inputs[0], f"{w_name}/dq"]
    if len(inputs) > 2:
        b_name = inputs[2]
        b_scale = (qparams[x][0] * w_scale).astype(np.float32)
        i32 = np.iinfo(np.int32)  # a bias far beyond its scale saturates instead of wrapping around
        consts[f"{b_name}/q"] = np.clip(np.round(consts.pop(b_name) / b_scale), i32.min, i32.max).astype(np.int32)
        consts[f"{b_name}/s"], consts[f"{b_name}/zp"] = b_scale, np.zeros(len(w), np.int32)
        nodes.append(proto.Node("DequantizeLinear", [f"{b_name}/q", f"{b_name}/s", f"{b_name}/zp"], [f"{b_name}/dq"], {"axis": 0}))
        out.append(f"{b_name}/dq")
    return out


def build_quantized(graph: str | Path, config: str | Path, ranges: Ranges) -> SsdGraph:
    """The int8 QDQ graph of the detector in these TF files (same inputs and outputs as the float one)."""
    try:
        net = fold(build_net(graph, config))
    except ValueError as exc:
        raise ModelUnavailableError(f"int8 detector: {exc}") from exc
    return quantize(net, ranges, frozenset(ranges.keep_float)).encode()
