"""Logic-aware retrieval (PolarMem §3.4, Algorithm 1) over any :class:`~vimrag.store.base.VectorStore`.

query → Q+/Q− (model JSON or rules) → concepts matched to the memory vocabulary ("puppy" → "dog") →
the store's exact lexicographic top-k → hits with state, similarity and an explanation, plus the
*excluded* near-misses: conflicting items that plain similarity search would have put in the top-k.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import replace
from functools import cached_property
from typing import Any

import numpy as np

from vimrag.errors import VimragError
from vimrag.index.lexical import matched_terms, tokenize
from vimrag.models.perceivers.calibration import Calibration, load_calibration
from vimrag.polar.concepts import ConceptMatcher
from vimrag.polar.lexical_weight import SIMILARITIES, lexical_weight
from vimrag.polar.logic import explain, logic_state
from vimrag.polar.query import ParsedQuery, parse_query
from vimrag.polar.ranking import concept_groups, rank_by_evidence
from vimrag.store.base import LogicQuery, ScoredId, TextQuery, VectorStore
from vimrag.types import LogicState, SearchHit, SearchResult


class PolarRetriever:
    def __init__(self, store: VectorStore, embedder: Any, config: Any, llm: Any | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.polar = getattr(config, "polar", config)
        self.llm = llm
        self._parsed: OrderedDict[str, ParsedQuery] = OrderedDict()  # query text → its parse (llm parser)
        self._parsed_lock = threading.Lock()  # a server searches from several threads
        self._matcher: ConceptMatcher | None = None
        self.last_matches: dict[str, list[str]] = {}

    @cached_property
    def calibration(self) -> Calibration | None:
        """The per-class calibration of ``polar.calibration`` when the stored scores were made with the
        settings it was fitted for (else None: evidence then uses the raw scores)."""
        name = str(getattr(self.polar, "calibration", ""))
        cal = load_calibration(name) if name else None
        return cal if cal is not None and cal.matches(self.polar) else None

    def matcher(self) -> ConceptMatcher:
        vocab = self.store.vocabulary()
        if self._matcher is None:
            from vimrag.models.vector_cache import PersistentVectors, persistable

            # concept names recur across processes: their vectors come from the on-disk cache
            emb = self.embedder
            cached = PersistentVectors(emb) if emb is not None and persistable(emb) else emb
            self._matcher = ConceptMatcher(vocab, cached, float(self.polar.concept_match))
        else:
            self._matcher.update(vocab)
        return self._matcher

    def parse(self, query: str) -> ParsedQuery:
        """Q+ / Q− of ``query``: by the model when the retriever has one (one call per distinct query, the
        last ``polar.query_cache`` kept), else by the rules."""
        if self.llm is None:
            return parse_query(query)
        with self._parsed_lock:
            hit = self._parsed.get(query)
            if hit is not None:
                self._parsed.move_to_end(query)
                return hit
        parsed = parse_query(query, self.llm)
        with self._parsed_lock:
            self._parsed[query] = parsed
            while len(self._parsed) > max(1, int(getattr(self.polar, "query_cache", 1024))):
                self._parsed.popitem(last=False)
        return parsed

    def logic_query(self, parsed: ParsedQuery) -> LogicQuery:
        m = self.matcher()
        self.last_matches = m.match_all(parsed.positive + parsed.negative)
        pos = [c for p in parsed.positive for c in self.last_matches.get(p, [])]
        neg = [c for n in parsed.negative for c in self.last_matches.get(n, [])]
        # a concept both wanted and unwanted stays wanted: "a dog and no other animals" excludes the other
        # animals, and "a man but no woman" (one closed-set concept, person) cannot verify the absence
        wanted = set(pos)
        neg = [c for c in neg if c not in wanted]
        pos = list(dict.fromkeys(pos))
        strict = bool(getattr(self.polar, "strict_negation", False))
        return LogicQuery(tuple(pos), tuple(dict.fromkeys(neg)), strict)

    def search(self, query: str | ParsedQuery, k: int = 10, strict: bool = False,
               similarity: str | None = None) -> SearchResult:
        """Top-k in lexicographic order; ``strict`` keeps only items that satisfy the query as verified:
        a wanted concept HAS (when there is one), every unwanted concept NOT_HAS — fewer than k if need be.

        ``query`` may come already parsed: its concepts are still matched to the memory's vocabulary, and
        its ``embed_text`` is what gets embedded."""
        text = query.text if isinstance(query, ParsedQuery) else query
        if isinstance(query, str):  # bytes that are not UTF-8 (kept by Python as surrogates): replaced
            text = query = query.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        if not text or not text.strip():
            raise VimragError("empty query: say what to look for, e.g. \"a photo with a cup but no person\"")
        parsed = query if isinstance(query, ParsedQuery) else self.parse(query)
        lq = self.logic_query(parsed)
        vec = np.asarray(self.embedder.embed([parsed.embed_text])[0], dtype=np.float32)
        tq = self.text_query(parsed, similarity)
        window = int(getattr(self.polar, "evidence_window", 0)) if lq.positive or lq.negative else 0
        fetch = max(k, window)
        scored = self._strict_search(vec, lq, fetch, tq) if strict else self._graded_search(vec, lq, fetch, tq)
        plain = self.store.search(vec, LogicQuery(), k, tq) if lq.negative or lq.positive else []
        ids = list(dict.fromkeys([s.id for s in scored] + [s.id for s in plain]))
        items = {it.id: it for it in self.store.get(ids)}
        ranked: list[tuple[ScoredId, float | None]] = [(s, None) for s in scored]
        if window:
            ranked = list(rank_by_evidence(
                scored, items, concept_groups(self.last_matches, parsed.positive, lq.positive),
                concept_groups(self.last_matches, parsed.negative, lq.negative),
                float(getattr(self.polar, "evidence_step", 0.0)), self.calibration))
        hits = []
        for s, evidence in ranked[:k]:
            it = items.get(s.id)
            if it is None:
                continue
            why = explain(s.state, it.has, it.not_has, lq.positive, lq.negative, it.entities)
            hits.append(SearchHit(it, LogicState(s.state), float(s.similarity), why, s.dense, s.lexical,
                                  matched_terms(tq.terms, it), evidence))
        excluded = []
        kept = {h.item.id for h in hits}
        for s in plain:
            it = items.get(s.id)
            if it is None or it.id in kept:
                continue
            st = logic_state(it.has, it.not_has, lq.positive, lq.negative)
            if st == LogicState.CONFLICT:
                why = explain(st, it.has, it.not_has, lq.positive, lq.negative)
                excluded.append(SearchHit(it, st, float(s.similarity), why, s.dense, s.lexical,
                                          matched_terms(tq.terms, it)))
        unmatched = [c for c in parsed.positive + parsed.negative if not self.last_matches.get(c)]
        return SearchResult(text, parsed.positive, parsed.negative, hits, excluded, list(tq.terms), tq.weight,
                            unmatched)

    def text_query(self, parsed: ParsedQuery, similarity: str | None = None) -> TextQuery:
        """The lexical side: BM25 terms of the query's positive part (the unwanted words must not pull
        items up) and λ from ``polar.similarity`` or ``similarity``
        (:func:`vimrag.polar.lexical_weight.lexical_weight`)."""
        if similarity is not None and similarity not in SIMILARITIES:
            raise VimragError(f"similarity must be one of {', '.join(SIMILARITIES)}, not {similarity!r}")
        text = parsed.embed_text or parsed.text
        unwanted = set(tokenize(" ".join(parsed.negative)))  # "no person" alone embeds itself: no word of it
        terms = tuple(t for t in dict.fromkeys(tokenize(text)) if t not in unwanted)
        return TextQuery(terms, lexical_weight(self.polar, text, terms, similarity))

    def _graded_search(self, vec: np.ndarray, lq: LogicQuery, k: int, tq: TextQuery) -> list[ScoredId]:
        """The store's lexicographic top-k; under strict negation, the items Algorithm 1 would call VERIFIED
        but whose unwanted concepts are not all verified absent lead the neutral tier.

        Strict negation demotes them from VERIFIED (an unverified absence is not a verified match), but
        they still have a wanted concept and no conflict, so they rank above the rest of the neutral
        tier: the order is (strict VERIFIED) > (Algorithm 1 VERIFIED only) > NEUTRAL > CONFLICT, each by
        similarity. On coco128 "A but not B" this keeps Algorithm 1's precision@5 while the strict tier
        puts the safest matches first. Two exact store searches: the strict top-k gives every strict
        VERIFIED item when there are fewer than k, and the first k − s of Algorithm 1's order without those
        s items lie within its own top-k.
        """
        first = self.store.search(vec, lq, k, tq)
        if not (lq.strict_negation and lq.positive and lq.negative):
            return first
        verified = [s for s in first if s.state == LogicState.VERIFIED]
        if len(verified) >= k:
            return verified[:k]
        taken = {s.id for s in verified}
        paper = self.store.search(vec, replace(lq, strict_negation=False), k, tq)
        rest = [
            replace(s, state=LogicState.UNCERTAIN if s.state == LogicState.VERIFIED else LogicState(s.state))
            for s in paper
            if s.id not in taken
        ]
        return (verified + rest)[:k]

    def _strict_search(self, vec: np.ndarray, lq: LogicQuery, k: int, tq: TextQuery) -> list[Any]:
        """The first k items of the lexicographic order that satisfy every constraint as verified.

        With a wanted concept these are exactly the VERIFIED tier under strict negation, which comes first;
        with only unwanted ones they sit inside the neutral tier, so the scan widens until k are found.
        """
        if not (lq.positive or lq.negative):
            return self.store.search(vec, lq, k, tq)
        strict = LogicQuery(lq.positive, lq.negative, strict_negation=True)
        fetch, total = k, self.store.count()
        while True:
            scored = self.store.search(vec, strict, fetch, tq)
            if lq.positive:
                return [s for s in scored if s.state == LogicState.VERIFIED][:k]
            ok = {it.id for it in self.store.get([s.id for s in scored if s.state != LogicState.CONFLICT])
                  if set(lq.negative) <= set(it.not_has)}
            keep = [s for s in scored if s.id in ok]
            if len(keep) >= k or fetch >= total or len(scored) < fetch:
                return keep[:k]
            fetch = min(total, fetch * 4)
