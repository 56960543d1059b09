"""Read a TensorFlow frozen graph's constants and an OpenCV text graph, without TensorFlow or OpenCV.

The COCO detector ships as a TF frozen graph (``.pb``, a ``GraphDef``) plus OpenCV's simplified text
graph (``.pbtxt``: the SSD's layers with their attributes, TF's box post-processing replaced by
``PriorBox`` / ``DetectionOutput``). :mod:`vimrag.models.perceivers.ssd_onnx` rebuilds the network for
ONNX Runtime from these two files, which needs only the layers' order and attributes (the text graph)
and the weights (the frozen graph's ``Const`` tensors). Reading them here keeps that path free of the
TensorFlow importer that OpenCV 5.1 removed.

Both readers cover what these files use, no more: protobuf *text* format (messages, scalars, quoted
strings) and the protobuf *wire* fields of ``GraphDef → NodeDef → AttrValue → TensorProto`` that hold
float32 constants. Anything else raises :class:`TfGraphError` with the field that was not understood.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vimrag.errors import VimragError

_DT_FLOAT = 1  # TensorFlow DataType enum
_TOKEN = re.compile(r'\s*(?:([{}:])|("(?:[^"\\]|\\.)*")|([^\s{}:"]+))')

Message = list[tuple[str, Any]]  # a text-format message: (field, value) pairs in file order


class TfGraphError(VimragError):
    """A graph file this reader does not understand (corrupt, or a construct outside its scope)."""


@dataclass
class TextNode:
    """One node of the text graph: its op, inputs and attributes (``key`` → text-format message)."""

    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    attrs: dict[str, Message] = field(default_factory=dict)

    def ints(self, key: str) -> list[int]:
        """An ``attr { value { list { i: … } } }`` as ints."""
        return [int(v) for k, v in _one(self.attrs[key], "list") if k == "i"]

    def string(self, key: str) -> str:
        return str(_one(self.attrs[key], "s"))

    def number(self, key: str) -> float:
        value = dict(self.attrs[key])
        for kind in ("f", "i"):
            if kind in value:
                return float(value[kind])
        raise TfGraphError(f"node {self.name}: attribute {key} is not a number")

    def floats(self, key: str) -> list[float]:
        """An ``attr { value { tensor { float_val: … } } }`` as floats."""
        return [float(v) for k, v in _one(self.attrs[key], "tensor") if k == "float_val"]


def _one(message: Message, key: str) -> Any:
    for k, v in message:
        if k == key:
            return v
    raise TfGraphError(f"field {key!r} missing in {message!r:.120}")


def parse_text_graph(path: str | Path) -> list[TextNode]:
    """The ``node { … }`` entries of a protobuf text-format graph, in file order."""
    text = Path(path).read_text(encoding="utf-8")
    tokens = [m.group(1) or m.group(2) or m.group(3) for m in _TOKEN.finditer(text) if m.group(0).strip()]
    pos = 0

    def message() -> Message:
        nonlocal pos
        out: Message = []
        while pos < len(tokens) and tokens[pos] != "}":
            key = tokens[pos]
            pos += 1
            if pos < len(tokens) and tokens[pos] == ":":
                pos += 1
            if pos >= len(tokens):
                raise TfGraphError(f"{path}: ends inside field {key!r}")
            if tokens[pos] == "{":
                pos += 1
                value: Any = message()
                if pos >= len(tokens):
                    raise TfGraphError(f"{path}: unclosed message {key!r}")
                pos += 1
            else:
                value = tokens[pos]
                pos += 1
                if value.startswith('"'):
                    value = value[1:-1]
            out.append((key, value))
        return out

    top = message()
    if pos < len(tokens):
        raise TfGraphError(f"{path}: unbalanced '}}' at token {pos}")
    nodes: list[TextNode] = []
    for key, value in top:
        if key != "node":
            continue
        node = TextNode(name=str(_one(value, "name")), op=str(_one(value, "op")))
        for k, v in value:
            if k == "input":
                node.inputs.append(v)
            elif k == "attr":
                node.attrs[str(_one(v, "key"))] = _one(v, "value")
        nodes.append(node)
    if not nodes:
        raise TfGraphError(f"{path}: no graph nodes found")
    return nodes


# --- protobuf wire format ----------------------------------------------------------------------------
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise TfGraphError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs of one message: varints as int, length-delimited as bytes."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            out.append((number, value))
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise TfGraphError("truncated field")
            out.append((number, buf[pos:pos + size]))
            pos += size
        elif wire == 5:
            out.append((number, buf[pos:pos + 4]))
            pos += 4
        elif wire == 1:
            out.append((number, buf[pos:pos + 8]))
            pos += 8
        else:
            raise TfGraphError(f"unsupported protobuf wire type {wire}")
    return out


def _tensor(buf: bytes, where: str) -> np.ndarray:
    """A float32 TensorProto: dtype (1), tensor_shape (2), tensor_content (4) or float_val (5)."""
    dtype, shape, content, floats = 0, [], b"", []
    for number, value in _fields(buf):
        if number == 1 and isinstance(value, int):
            dtype = value
        elif number == 2 and isinstance(value, bytes):
            for n, dim in _fields(value):
                if n == 2 and isinstance(dim, bytes):
                    size = dict(_fields(dim)).get(1, 0)
                    shape.append(int(size) if isinstance(size, int) else 0)
        elif number == 4 and isinstance(value, bytes):
            content = value
        elif number == 5 and isinstance(value, bytes):
            floats.append(value)
    if dtype != _DT_FLOAT:
        raise TfGraphError(f"{where}: constant of TF dtype {dtype}, only float32 is read")
    if content:
        arr = np.frombuffer(content, dtype="<f4")
    else:  # packed float_val (one bytes field) or single values
        arr = np.frombuffer(b"".join(floats), dtype="<f4")
        count = int(np.prod(shape)) if shape else 1
        if arr.size == 1 and count > 1:
            arr = np.full(count, arr[0], dtype=np.float32)
    if shape and arr.size != int(np.prod(shape)):
        raise TfGraphError(f"{where}: {arr.size} values for shape {shape}")
    return arr.reshape(shape).astype(np.float32)


def read_constants(path: str | Path, names: set[str]) -> dict[str, np.ndarray]:
    """The float32 ``Const`` tensors called ``names`` in a frozen ``GraphDef``; missing ones are absent."""
    data = Path(path).read_bytes()
    out: dict[str, np.ndarray] = {}
    for number, node in _fields(data):
        if number != 1 or not isinstance(node, bytes):
            continue
        name, op, value = "", "", b""
        for n, v in _fields(node):
            if n == 1 and isinstance(v, bytes):
                name = v.decode()
            elif n == 2 and isinstance(v, bytes):
                op = v.decode()
            elif n == 5 and isinstance(v, bytes):
                entry = dict(_fields(v))
                if entry.get(1) == b"value" and isinstance(entry.get(2), bytes):
                    value = entry[2]  # type: ignore[assignment]
        if op != "Const" or name not in names:
            continue
        attr = dict(_fields(value))
        if not isinstance(attr.get(8), bytes):
            raise TfGraphError(f"{path}: constant {name} holds no tensor")
        out[name] = _tensor(attr[8], name)  # type: ignore[arg-type]
    return out
