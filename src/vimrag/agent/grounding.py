"""Coordinate-grounded answering (PolarMem, Appendix B): the answer is checked against a global view and
local slices of the evidence images, each slice named by normalized ``[x1, y1, x2, y2]`` coordinates on a
0–1000 scale.

When ``agent.grounding`` is on and the policy answers, the images among the graph's evidence (those the
answer cites first, then the best scored; at most ``agent.grounding_items``) are cut into overlapping
slices (``agent.grounding_slice``: the slice side as a fraction of the image side, half-overlapping, as
the released code's 448-px patches with stride ½ — a fraction, because our images are of any size). The
model then sees, after the same evidence, its first answer and the views, and answers once more:

* a **VLM** gets the global image and each slice as images, labelled with their coordinates;
* the **text-only** default gets, per view, the objects the perceiver verified there (stored boxes,
  ``item.meta["objects"]``) and the OCR lines read inside it (read now, with their boxes).

An unusable second answer keeps the first. Off by default: one more call and an OCR pass per image, and
with the text-only model it answered 5 of the 7 demo questions instead of 6 (a table page's OCR lines led
it to the Total column; ``benchmarks/results/eval/demo-answer-options.md``).
"""

from __future__ import annotations

import json
import logging

from PIL import Image

from vimrag.agent.actions import ActionError, Answer, parse_action
from vimrag.agent.citations import cited_entries
from vimrag.agent.context import entry_label
from vimrag.agent.episode import Episode
from vimrag.agent.graph import BankEntry
from vimrag.agent.trajectory import StepRecord
from vimrag.errors import VimragError
from vimrag.ingest.tables import norm_box
from vimrag.models.base import ImageInput, Message

_log = logging.getLogger(__name__)

GROUNDED = (
    "Before you answer, check your answer against these views of the evidence images. Each view is a "
    "region [x1, y1, x2, y2] of its image on a 0-1000 scale; [0, 0, 1000, 1000] is the global view.\n"
    "{views}\n\nReply with ONE JSON object: "
    '{{"action": "answer", "answer": "<a few words>", "cite": ["<node.item>"]}}.'
)

Box = tuple[int, int, int, int]


def slice_boxes(fraction: float) -> list[Box]:
    """The global view, then half-overlapping square-ish slices of side ``fraction`` (0–1000 scale)."""
    side = max(1, min(1000, round(1000 * fraction)))
    stride = max(1, side // 2)
    starts = list(range(0, 1000 - side + 1, stride))
    if starts[-1] != 1000 - side:
        starts.append(1000 - side)
    boxes: list[Box] = [(0, 0, 1000, 1000)]
    if side < 1000:
        boxes += [(x, y, x + side, y + side) for y in starts for x in starts]
    return boxes


def grounded_answer(ep: Episode, messages: list[Message], first: Answer, record: StepRecord) -> Answer:
    """Answer again after seeing the evidence images' global view and slices; ``first`` if that fails."""
    cfg = ep.config.agent
    entries = _image_entries(ep, first.cite, int(cfg.grounding_items))
    if not entries:
        return first
    boxes = slice_boxes(float(cfg.grounding_slice))
    lines: list[str] = []
    images: list[ImageInput] = []
    for ref, entry in entries:
        img = ep.retriever.load_image(entry.item)
        if img is None:
            continue
        name = entry.item.source.rsplit("/", 1)[-1]
        if ep.vlm:
            lines.append(f"[{ref}] {name}: {len(boxes)} views attached, labelled {ref}@[x1,y1,x2,y2].")
            images += [ImageInput(crop(img, b), label=f"{ref}@[{','.join(map(str, b))}]") for b in boxes]
        else:
            lines += [f"[{ref}] {name}"] + text_views(entry, img, boxes)
    if not lines:
        return first
    record.grounded = [ref for ref, _ in entries]
    ask = [*messages, Message("assistant", json.dumps({"action": "answer", "answer": first.answer})),
           Message("user", GROUNDED.format(views="\n".join(lines)), images)]
    text = ep.generate(ask, record)
    try:
        again = parse_action(text, ("answer",))
    except ActionError:
        return first
    assert isinstance(again, Answer)
    return again if again.answer.strip() else first


def crop(img: Image.Image, box: Box) -> Image.Image:
    w, h = img.size
    x0, y0, x1, y1 = box
    return img.crop((w * x0 // 1000, h * y0 // 1000, max(w * x0 // 1000 + 1, w * x1 // 1000),
                     max(h * y0 // 1000 + 1, h * y1 // 1000)))


def text_views(entry: BankEntry, img: Image.Image, boxes: list[Box]) -> list[str]:
    """Per view, the verified objects and the OCR lines whose centre lies in it (the text-only slices)."""
    objects = [(str(o[0]), tuple(int(v) for v in o[1:5])) for o in entry.item.meta.get("objects", [])]
    words = _ocr_lines(img)
    out = []
    for b in boxes:
        inside_o = [f"{n} [{','.join(map(str, ob))}]" for n, ob in objects if _centre_in(ob, b)]
        inside_w = [f'"{t}" [{",".join(map(str, wb))}]' for t, wb in words if _centre_in(wb, b)]
        if b == (0, 0, 1000, 1000):
            inside_w = inside_w[:12]  # the global view names everything; the slices carry the detail
        if inside_o or inside_w:
            out.append(f"  [{','.join(map(str, b))}] objects: {'; '.join(inside_o) or '-'} | text: "
                       f"{'; '.join(inside_w) or '-'}")
    return out


def _ocr_lines(img: Image.Image) -> list[tuple[str, Box]]:
    """OCR lines with their boxes on the 0–1000 scale; none when no OCR engine is installed."""
    try:
        from vimrag.models.ocr import ocr_image

        res = ocr_image(img.convert("RGB"))
    except VimragError as exc:  # no engine (MissingExtraError) or a failed read: ground on objects only
        _log.warning("coordinate-grounded answering without OCR text: %s", exc)
        return []
    return [(b.text, _ints(norm_box(*b.box, *img.size))) for b in res.boxes if b.text.strip()]


def _ints(box: tuple[float, ...]) -> Box:
    x0, y0, x1, y1 = (round(v) for v in box)
    return (x0, y0, x1, y1)


def _centre_in(inner: tuple[int, ...], outer: Box) -> bool:
    cx, cy = (inner[0] + inner[2]) / 2, (inner[1] + inner[3]) / 2
    return outer[0] <= cx <= outer[2] and outer[1] <= cy <= outer[3]


def _image_entries(ep: Episode, cite: list[str], limit: int) -> list[tuple[str, BankEntry]]:
    """Bank entries that have an image: cited ones first, then by memorize score and similarity."""
    found = {(node.id, i): e for node in ep.graph.nodes for i, e in enumerate(node.bank, start=1)
             if e.item.media and e.saliency}
    ranked = sorted(found, key=lambda key: (-(found[key].score or 0), -found[key].similarity))
    order = [key for key in cited_entries(ep.graph, cite) if key in found] + ranked
    return [(entry_label(*key), found[key]) for key in dict.fromkeys(order)][: max(0, limit)]
