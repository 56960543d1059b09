"""A minimal ONNX ``ModelProto`` writer (protobuf wire format), enough for the detector's graphs: float32,
and the int8 QDQ copy of :mod:`vimrag.models.perceivers.ssd_int8` (uint8 / int8 / int32 constants).

:mod:`vimrag.models.perceivers.ssd_onnx` rebuilds the COCO detector for ONNX Runtime at load time. The
``onnx`` package could write the model, but importing it costs ~1.4 s on a 2-core machine — more than the
rebuild itself — and adds a dependency for ~80 lines of serialization. ONNX Runtime validates what it
loads, so a malformed model fails at session creation with ORT's message, never silently.

Field numbers follow ``onnx/onnx.proto`` (IR version 8): ModelProto, GraphProto, NodeProto,
AttributeProto, TensorProto, ValueInfoProto.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

_FLOAT = 1  # TensorProto.DataType.FLOAT
_DTYPES = {np.dtype("<f4"): _FLOAT, np.dtype("u1"): 2, np.dtype("i1"): 3, np.dtype("<i4"): 6}  # FLOAT UINT8 INT8 INT32
_ATTR_FLOAT, _ATTR_INT, _ATTR_STRING, _ATTR_INTS = 1, 2, 3, 7  # AttributeProto.AttributeType


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # int64 as two's complement, as protobuf writes negative numbers
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _int(number: int, value: int) -> bytes:
    return _key(number, 0) + _varint(value)


def _bytes(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + _varint(len(payload)) + payload


def _str(number: int, text: str) -> bytes:
    return _bytes(number, text.encode())


AttrValue = int | float | str | Sequence[int]


@dataclass
class Node:
    """One operator: ``op_type`` over ``inputs`` into ``outputs``, with its attributes."""

    op_type: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, AttrValue] = field(default_factory=dict)

    def encode(self) -> bytes:
        out = b"".join(_str(1, i) for i in self.inputs) + b"".join(_str(2, o) for o in self.outputs)
        out += _str(3, self.outputs[0]) + _str(4, self.op_type)
        for name, value in self.attrs.items():
            out += _bytes(5, _attribute(name, value))
        return out


def _attribute(name: str, value: AttrValue) -> bytes:
    head = _str(1, name)
    if isinstance(value, bool):
        raise TypeError(f"attribute {name}: booleans are ints in ONNX")
    if isinstance(value, int):
        return head + _int(3, value) + _int(20, _ATTR_INT)
    if isinstance(value, float):
        return head + _key(2, 5) + np.float32(value).tobytes() + _int(20, _ATTR_FLOAT)
    if isinstance(value, str):
        return head + _bytes(4, value.encode()) + _int(20, _ATTR_STRING)
    return head + b"".join(_int(8, int(v)) for v in value) + _int(20, _ATTR_INTS)


def tensor(name: str, value: np.ndarray | float) -> bytes:
    """An initializer (raw little-endian data): uint8, int8 and int32 arrays keep their type, anything
    else is written as float32."""
    arr = np.asarray(value)
    arr = arr.astype("<i4" if arr.dtype == np.int32 else arr.dtype if arr.dtype in _DTYPES else "<f4")
    return (b"".join(_int(1, d) for d in arr.shape) + _int(2, _DTYPES[arr.dtype]) + _str(8, name)
            + _bytes(9, arr.tobytes()))


def value_info(name: str, dims: Sequence[int | str] | None) -> bytes:
    """A float32 graph input or output; a str dimension is symbolic (e.g. the batch), ``None`` leaves
    the shape unstated (an intermediate tensor exposed for calibration)."""
    tensor_type = _int(1, _FLOAT)
    if dims is not None:
        tensor_type += _bytes(2, b"".join(_bytes(1, _str(2, d) if isinstance(d, str) else _int(1, d)) for d in dims))
    return _str(1, name) + _bytes(2, _bytes(1, tensor_type))


def model(name: str, nodes: Sequence[Node], initializers: Sequence[bytes], inputs: Sequence[bytes],
          outputs: Sequence[bytes], opset: int = 17, ir_version: int = 8) -> bytes:
    """A serialized ModelProto of one graph in the default ONNX domain."""
    graph = b"".join(_bytes(1, n.encode()) for n in nodes) + _str(2, name)
    graph += b"".join(_bytes(5, t) for t in initializers)
    graph += b"".join(_bytes(11, v) for v in inputs) + b"".join(_bytes(12, v) for v in outputs)
    return (_int(1, ir_version) + _str(2, "vimrag") + _bytes(7, graph)
            + _bytes(8, _str(1, "") + _int(2, opset)))
