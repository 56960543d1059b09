"""PolarMem graph construction (§3.2–3.3): raw items → :class:`~vimrag.types.Item` with polarized concepts.

Per raw item:

* **visual** (image, page, video segment): the perceiver proposes and verifies concepts (Eq. 4); scores
  go through the anchored-Otsu partition (Eq. 5–6) into HAS / NOT_HAS / UNCERTAIN evidence. Verification
  scores s_c are cached per (image content hash, concept, perceiver) through a :class:`VerificationCache`
  (the store implements it), so re-ingesting an image, or a perceiver that can verify concepts one by one
  (``propose`` + ``verify``, the VLM perceiver), asks the model only for what it has not seen.
* **text** (chunk, page text layer, transcript): entities (spaCy NER + noun phrases) become ALIGN edges
  (Eq. 7), stored in ``Item.entities``.
* every item gets z_sem = embed(serialised concept state + text) (Eq. 10; a text too long for the
  embedder's window goes first: :func:`serialize_for_embedding`), e.g.
  ``"has: cup, dining table; not: person; uncertain: bottle. text: …"``.

How ALIGN takes part in retrieval: an entity mention is *not* a verified HAS edge (a chunk saying
"there is no dog here" mentions *dog*), and Algorithm 1 defines VERIFIED / CONFLICT from HAS / NOT_HAS
only; the released code likewise ranks text by MENTIONS in a list separate from the logic-gated images.
So text items stay in the neutral tier and their mentions act through z_sem (the serialised
``mentions:`` field) and the explanation ("mentions *dog*").
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from vimrag.config import Config, PartitionSettings
from vimrag.ingest.base import RawItem
from vimrag.ingest.tables import norm_box
from vimrag.models.base import ConceptScore, Perceiver, Perception, TextEmbedder
from vimrag.polar.concepts import normalize_concept
from vimrag.polar.evidence import serialize_state
from vimrag.polar.partition import partition
from vimrag.types import ConceptEvidence, Item, Modality, Polarity, heading_context, item_id

_KIND = {Modality.IMAGE: "photo", Modality.PAGE: "page", Modality.VIDEO: "frame"}


@runtime_checkable
class VerificationCache(Protocol):
    """key = f"{image_content_hash}|{concept}|{perceiver}" → s_c. The VectorStore provides it."""

    def cache_get(self, keys: Sequence[str]) -> dict[str, float]: ...

    def cache_put(self, values: dict[str, float]) -> None: ...


def image_hash(image: Any) -> str:
    """Content hash of decoded pixels (independent of file format and metadata)."""
    h = hashlib.sha1(f"{image.mode}|{image.size}".encode())
    h.update(image.tobytes())
    return h.hexdigest()[:24]


def perceiver_key(perceiver: Any) -> str:
    model = getattr(perceiver, "model", None)
    mname = getattr(model, "name", "") if model is not None else ""
    return f"{getattr(perceiver, 'name', type(perceiver).__name__)}{':' + mname if mname else ''}"


def perceive_cached(perceiver: Any, image: Any, kind: str, cache: VerificationCache | None) -> Perception:
    """Perceive ``image``, verifying only concepts missing from ``cache``; store the new s_c."""
    if cache is None:
        return perceiver.perceive(image, kind)
    pkey, ihash = perceiver_key(perceiver), image_hash(image)

    def key(c: str) -> str:
        return f"{ihash}|{c}|{pkey}"

    if hasattr(perceiver, "propose") and hasattr(perceiver, "verify"):
        concepts, caption = perceiver.propose(image, kind)
        hits = cache.cache_get([key(c) for c in concepts])
        missing = [c for c in concepts if key(c) not in hits]
        fresh = perceiver.verify(image, missing) if missing else []
        by_name = {cs.concept: cs for cs in fresh}
        scored = [by_name.get(c) or ConceptScore(c, [hits[key(c)]], None, "cache") for c in concepts]
        scored = [s for s in scored if s is not None]
        text = perceiver.read_text(image) if getattr(getattr(perceiver, "options", None), "read_text", False) else ""
        p = Perception(concepts=scored, text=text, caption=caption, meta={"perceiver": pkey, "cached": len(hits)})
    else:
        p = perceiver.perceive(image, kind)
    new = {key(cs.concept): cs.score for cs in p.concepts if cs.scores and cs.origin != "cache"}
    if new:
        cache.cache_put(new)
    return p


#: How z_sem's input is laid out; recorded per source so that ``vimrag ingest`` re-embeds (without perceiving
#: again) what an older layout built. 1: concept state first; 3: state first only when it all fits; 4: a
#: chunk's text led by the headings above it (:func:`vimrag.types.heading_context`).
EMBED_FORMAT = 4
#: Characters of Eq. 10's input that fit the embedder's window with the state first (MiniLM reads 256
#: word pieces, ~4 characters each; 800 leaves room for long words and numbers).
FITS_CHARS = 800


#: Bump when the perceivers' code changes what they verify (a new view, a new calibration), or what the
#: visual loaders cut out, so that stores built before are read and perceived again by the next ingest
#: (issue 16: no silently stale polarities). 2: figure items of PDFs, slides drawn by LibreOffice, video
#: segments ending between sentences with their on-screen text (issue 15). 3: absence views scored by the
#: detector alone (issue 16).
PERCEPTION_VERSION = 3
_PERCEPTION_KEYS = ("templates", "anchors", "kappa", "local_kappa", "local_score_power", "local_absence",
                    "max_proposals", "tta", "absence_views", "local_veto_kappa")


def perception_fingerprint(config: Config) -> str:
    """Who verified a file's concepts and how they were split (Eq. 4–6 settings): recorded per source, so a
    store perceived with other settings is detected. Computed from the config alone: no model is loaded."""
    m = config.models
    what = {"v": PERCEPTION_VERSION, "perceiver": m.perceiver, "vlm": m.vlm if m.perceiver == "vlm" else "",
            "polar": {k: getattr(config.polar, k) for k in _PERCEPTION_KEYS},
            "ocr": config.ingest.ocr, "max_side": config.ingest.image_max_side,
            "figures": config.ingest.pdf_figures, "slides": config.ingest.office_render}
    if m.perceiver == "local" and m.detector_runtime == "onnxruntime" and m.detector_int8_absence and config.polar.absence_views:
        what["absence_int8"] = True  # only when on, so stores perceived without it keep their fingerprint
    return hashlib.sha1(repr(what).encode()).hexdigest()[:16]


def serialize_for_embedding(item: Item, caption: str = "", max_chars: int = 1500) -> str:
    """Eq. 10 input: the concept state, the caption and the text (chunk / OCR / transcript) — in the paper's
    order when that fits the embedder's window, else the text first.

    Deviation (order, long texts only): the embedder reads 256 tokens, and on a text-rich item the state —
    a page's layout labels, a paragraph's mentions, both drawn from the text — came first and pushed the text
    out of that window. Measured with plain cosine over the stored vectors (``benchmarks/doc_retrieval.py``,
    ``benchmarks/text_retrieval.py``): MMLongBench-Doc evidence page in the top 5 for 0.470 of the questions
    with the state always first, 0.553 with the text always first, 0.530 with this rule; HotpotQA passages
    (short, so they keep the paper's order) recall@5 0.785 / 0.770 / 0.800."""
    state = serialize_state(item)
    text = " ".join(item.text.split())
    context = heading_context(item.meta, text)
    if context and text:  # the headings above a chunk say what it is about (format 4)
        text = f"{context}: {text}"
    cap = f"caption: {caption}" if caption else ""
    body = f"text: {text}" if text else ""
    paper = ". ".join(p for p in (state, cap, body) if p)
    out = paper if len(paper) <= FITS_CHARS else ". ".join(p for p in (body, cap, state) if p)
    return out[:max_chars] or "(empty)"


def build_items(
    raw_items: Sequence[RawItem],
    *,
    source: str,
    source_hash: str,
    perceiver: Perceiver | None,
    embedder: TextEmbedder | None,
    entity_extractor: Any | None,
    config: Config,
    cache: VerificationCache | None = None,
    split: PartitionSettings | None = None,
) -> list[Item]:
    """Turn one file's raw items into items with polarized concepts, ALIGN entities and z_sem.

    ``split`` overrides how Eq. 5–6 partition the scores; by default it is what the config gives for this
    perceiver (:meth:`~vimrag.config.PolarConfig.partition_for`). ``embedder=None`` leaves z_sem to a later
    :func:`embed_items` (the Ray engine embeds in a stage of its own)."""
    settings = split or config.polar.partition_for(perceiver.name if perceiver is not None else "")
    items: list[Item] = []
    captions: list[str] = []
    for raw in raw_items:
        modality = Modality(raw.modality)
        item = Item(
            id=item_id(source_hash, modality, raw.locator),
            source=source,
            source_hash=source_hash,
            modality=modality,
            locator=raw.locator,
            text=raw.text or "",
            meta=dict(raw.meta),
        )
        caption = ""
        if raw.image is not None and perceiver is not None:
            kind = "figure" if raw.meta.get("kind") == "figure" else _KIND.get(modality, "photo")
            p = perceive_cached(perceiver, raw.image, kind, cache)
            item.concepts = partition(p.concepts, settings.kappa, settings.anchors, settings.absence,
                                      settings.veto_kappa)
            objects = located_objects(p.concepts, item.concepts, raw.image.size)
            if objects:  # where the verified objects are: coordinate-grounded answering (agent.grounding)
                item.meta["objects"] = objects
            if p.text and not item.text.strip():
                item.text = p.text
                item.meta["text_origin"] = "ocr"
            elif p.text and modality is Modality.VIDEO:
                # what is said and what is shown in the same span are both the segment's text (issue 15);
                # the screen first: the transcript mishears names that a slide spells out
                item.text = f"On screen: {p.text}\nSaid: {item.text}"
                item.meta["text_origin"] = "speech+ocr"
            elif p.text and item.meta.get("kind") == "figure":  # a raster chart's labels and values
                item.text = f"{item.text}\nRead in the figure: {p.text}"
                item.meta["text_origin"] = "text_layer+ocr"
            caption = p.caption
            if caption:
                item.meta["caption"] = caption
        items.append(item)
        captions.append(caption)
    if entity_extractor is not None:
        idx = [i for i, it in enumerate(items) if it.text.strip()]
        if idx:
            ents = entity_extractor.extract([items[i].text for i in idx])
            for i, names in zip(idx, ents, strict=True):
                items[i].entities = [n for n in dict.fromkeys(normalize_concept(x) for x in names) if n]
    if embedder is not None:
        embed_items(items, embedder, captions)
    return items


def located_objects(scores: Sequence[ConceptScore], concepts: Sequence[ConceptEvidence],
                    size: tuple[int, int]) -> list[list[Any]]:
    """``[concept, x1, y1, x2, y2]`` on a 0–1000 scale for each HAS concept whose perceiver gave a box."""
    has = {c.concept for c in concepts if c.polarity is Polarity.HAS}
    w, h = max(1, size[0]), max(1, size[1])
    out = []
    for c in scores:
        name = normalize_concept(c.concept)
        if c.box is not None and name in has:
            out.append([name, *(round(v) for v in norm_box(*c.box, w, h))])
    return out


def embed_items(items: Sequence[Item], embedder: TextEmbedder, captions: Sequence[str] | None = None) -> None:
    """Set z_sem (Eq. 10) on each item, in place; a caption defaults to the one kept in ``item.meta``."""
    if not items:
        return
    caps = captions if captions is not None else [str(it.meta.get("caption", "") or "") for it in items]
    texts = [serialize_for_embedding(it, cap) for it, cap in zip(items, caps, strict=True)]
    vecs = np.asarray(embedder.embed(texts), dtype=np.float32)
    vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    assert vecs.dtype == np.float32
    for it, v in zip(items, vecs, strict=True):
        it.vector = v
