"""The lexical channel: a tokenizer that keeps numbers and codes, and exact BM25 over posting lists.

Why a channel of our own beside the dense one (issue 22): words that an embedding blurs — figures
("1,240"), codes ("A-17"), years, table labels, names — often decide which page answers a question. Every
item's *document text* (:func:`document_text`: file name, text / OCR / transcript / table cells, caption and
the names of its verified concepts) is tokenized by :func:`tokenize` and scored with Okapi BM25
(k1 = 1.2, b = 0.75, Lucene's idf ``ln(1 + (N − df + 0.5) / (df + 0.5))``).

The same tokens and the same formula are used by both stores — this in-process index for the embedded
LanceDB store, a ``tsvector`` column with a GIN index and BM25 computed in SQL for PostgreSQL — so a query
gets the same lexical scores, hence the same top-10, on either. Term frequencies are capped at
:data:`MAX_TF` (PostgreSQL keeps at most 256 positions per lexeme; BM25 has long saturated by then).

How it is kept incremental: rows are appended to a per-row CSR (the *delta* segment, given its own small
term-major postings on the first search after an add) and merged into the main posting lists when the delta
grows past a quarter of them; removal
is a tombstone that also takes the row out of the document frequencies, so N, df and the mean length
always describe the live rows only.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vimrag.errors import StoreError
from vimrag.types import Item, heading_context

K1 = 1.2
B = 0.75
#: Bump when :func:`tokenize` or :func:`document_text` changes: both stores then re-tokenize what they hold
#: (the embedded store rebuilds its index, PostgreSQL refills its tsvectors), so no query meets stale terms.
TOKENIZER_VERSION = 3  # 3: a chunk's heading context joins its document (vimrag.types.heading_context)
MAX_TF = 256  # PostgreSQL stores at most 256 positions per lexeme; both stores cap tf there
MAX_TOKEN = 64  # longer "words" are hashes or base64, not something a person types

# Numbers with thousands separators or decimals ("1,240", "3.5", "2023"), codes of letters and digits
# joined by - _ . / ("A-17", "v2.3", "IMG_0012"), and plain words.
_TOKEN_RE = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\w+(?:[-_./]\w+)*", re.UNICODE)
_THOUSANDS_RE = re.compile(r"(?<=\d),(?=\d{3})")
_PART_RE = re.compile(r"[-_/]")

# A short English stop list: words that would make every posting list huge and carry no meaning for a
# search. Negation words stay out of it ("no" is a stopword for BM25, the rule parser reads it first).
STOPWORDS = frozenset("""
a an and are as at be been but by can could did do does for from had has have he her his how i if in into is
it its me my no not of on or our she so than that the their them then there these they this those to too
us was we were what when where which who whom whose why will with would you your about after all also am any
because before being between both each few more most other over same should some such through under until
up very while yes many much according
""".split())


def _stem(word: str) -> str:
    """Light English plural folding ("revenues" → "revenue", "batteries" → "battery"): enough for search
    over titles and tables, without a stemmer's surprises on names and codes."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    """Lower-cased tokens in order, stopwords out: numbers lose their thousands separators ("1,240" →
    "1240"); a code joined by - _ / is kept whole *and* as its parts ("A-17" → "a-17", "17")."""
    out: list[str] = []
    for m in _TOKEN_RE.finditer(text.lower()):
        tok = _THOUSANDS_RE.sub("", m.group(0)).strip("._/-")
        if not tok or len(tok) > MAX_TOKEN:
            continue
        if tok not in STOPWORDS:
            out.append(_stem(tok))
        if _PART_RE.search(tok):
            out += [_stem(p) for p in _PART_RE.split(tok)
                    if p and p not in STOPWORDS and (len(p) > 1 or not p.isdigit())]
    return out


def document_text(source: str, text: str, caption: str = "", concepts: Iterable[str] = (),
                  place: str = "") -> str:
    """What the lexical channel indexes for one item: the file's name, the item's place in it (a sheet
    name), its text (chunk, text layer, OCR, transcript, table), caption and the names of its verified
    (HAS) concepts — never NOT_HAS ones, so "no dog" does not match *dog*."""
    name = Path(source).stem.replace("_", " ") if source else ""
    return "\n".join(p for p in (name, place, text, caption, " ".join(concepts)) if p)


def item_place(meta: dict[str, Any] | None, text: str, sheet: str | None) -> str:
    """Where an item sits in its file, as words: its sheet, or the headings above its chunk."""
    return " ".join(p for p in (sheet or "", heading_context(meta, text)) if p)


def item_document(item: Item) -> str:
    """:func:`document_text` of an item (its caption from ``meta``, its sheet and headings as its place)."""
    return document_text(item.source, item.text, str(item.meta.get("caption", "") or ""), item.has,
                         item_place(item.meta, item.text, item.locator.sheet))


def matched_terms(terms: Sequence[str], item: Item) -> list[str]:
    """The query terms an item's words hold, in query order (what the search table shows as matched)."""
    have = set(tokenize(item_document(item)))
    return [t for t in terms if t in have]


def term_counts(text: str) -> tuple[dict[str, int], int]:
    """``(term → tf capped at MAX_TF, document length in tokens)``: one item's BM25 statistics."""
    toks = tokenize(text)
    return {t: min(c, MAX_TF) for t, c in Counter(toks).items()}, len(toks)


def bm25_idf(n_docs: int, df: np.ndarray) -> np.ndarray:
    """Lucene's idf, always positive: ``ln(1 + (N − df + 0.5) / (df + 0.5))``."""
    return np.log1p((n_docs - df + 0.5) / (df + 0.5))


def bm25(tf: np.ndarray, dl: np.ndarray, idf: np.ndarray, avgdl: float) -> np.ndarray:
    """Per-(row, term) BM25 contributions (float64)."""
    norm = K1 * (1.0 - B + B * dl / max(avgdl, 1e-9))
    return idf * tf * (K1 + 1.0) / (tf + norm)


class LexicalIndex:
    """Exact BM25 over rows numbered like the :class:`~vimrag.index.PolarIndex` beside it.

    >>> idx = LexicalIndex()
    >>> _ = idx.add([term_counts("North region: Q3 = 1,240 bicycles"), term_counts("South region: Q3 = 980")])
    >>> rows, scores = idx.search(tokenize("bicycles sold in the North, 1240"))
    >>> rows.tolist(), bool(scores[0] > 0)
    ([0], True)
    """

    def __init__(self) -> None:
        self._terms: dict[str, int] = {}
        self._df = np.zeros(0, dtype=np.int64)
        self._n = 0
        self._alive = np.zeros(0, dtype=bool)
        self._dl = np.zeros(0, dtype=np.float64)
        self._total = 0.0  # sum of live document lengths
        self._live = 0
        # per-row CSR (every row, for removal and persistence) and term-major postings over rows [0, _built)
        self._row_ptr = [np.zeros(1, dtype=np.int64)]
        self._row_terms: list[np.ndarray] = []
        self._row_tf: list[np.ndarray] = []
        self._csr: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # consolidated (ptr, terms, tf)
        self._post: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (term ptr, rows, tf)
        self._delta: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # the same for rows ≥ _built
        self._built = 0

    def __len__(self) -> int:
        return self._live

    @property
    def n_rows(self) -> int:
        return self._n

    def _term_id(self, term: str) -> int:
        tid = self._terms.get(term)
        if tid is None:
            tid = self._terms[term] = len(self._terms)
        return tid

    def add(self, docs: Sequence[tuple[dict[str, int], int]]) -> np.ndarray:
        """Append rows (``term_counts`` of each document); returns their row ids."""
        start = self._n
        m = len(docs)
        if m == 0:
            return np.zeros(0, dtype=np.int64)
        terms, tfs, lens = [], [], np.zeros(m, dtype=np.int64)
        for i, (counts, _) in enumerate(docs):
            ids = np.fromiter((self._term_id(t) for t in counts), dtype=np.int32, count=len(counts))
            terms.append(ids)
            tfs.append(np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))
            lens[i] = len(ids)
        flat_t, flat_f = np.concatenate(terms), np.concatenate(tfs)
        ptr = np.cumsum(lens) + self._row_ptr[-1][-1]
        self._row_ptr.append(ptr)
        self._row_terms.append(flat_t)
        self._row_tf.append(flat_f)
        self._csr = None
        self._delta = None
        if len(self._terms) > self._df.size:
            self._df = np.concatenate([self._df, np.zeros(len(self._terms) - self._df.size, np.int64)])
        np.add.at(self._df, flat_t, 1)
        self._alive = np.concatenate([self._alive, np.ones(m, dtype=bool)])
        dl = np.array([float(length) for _, length in docs], dtype=np.float64)
        self._dl = np.concatenate([self._dl, dl])
        self._total += float(dl.sum())
        self._n += m
        self._live += m
        if self._n - self._built > max(4096, self._built // 4):
            self._merge()
        return np.arange(start, start + m, dtype=np.int64)

    def _rows_csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._csr is None:
            ptr = np.concatenate(self._row_ptr)
            terms = np.concatenate(self._row_terms) if self._row_terms else np.zeros(0, np.int32)
            tf = np.concatenate(self._row_tf) if self._row_tf else np.zeros(0, np.float32)
            self._row_ptr, self._row_terms, self._row_tf = [ptr], [terms], [tf]
            self._csr = (ptr, terms, tf)
        return self._csr

    def _range_postings(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Term-major postings ``(term ptr, rows, tf)`` of rows [lo, hi) (O(nnz log nnz) of that range)."""
        ptr, terms, tf = self._rows_csr()
        a, b = int(ptr[lo]), int(ptr[hi])
        rows = np.repeat(np.arange(lo, hi, dtype=np.int64), np.diff(ptr[lo : hi + 1]))
        seg = terms[a:b]
        order = np.argsort(seg, kind="stable")
        counts = np.bincount(seg, minlength=len(self._terms))
        tptr = np.zeros(len(self._terms) + 1, dtype=np.int64)
        np.cumsum(counts, out=tptr[1:])
        return tptr, rows[order], tf[a:b][order]

    def _merge(self) -> None:
        """Rebuild the main postings over every row (amortised by the 1/4 rule)."""
        self._post = self._range_postings(0, self._n)
        self._built = self._n
        self._delta = None

    def _segments(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The main postings and those of the rows added since the last merge (built once per add, on the
        first search after it: scanning the delta row by row cost 17 ms a query at 200k items)."""
        segs = [self._post] if self._post is not None else []
        if self._built < self._n:
            if self._delta is None:
                self._delta = self._range_postings(self._built, self._n)
            segs.append(self._delta)
        return segs

    def remove(self, rows: Sequence[int] | np.ndarray) -> None:
        """Tombstone rows and take them out of N, df and the total length; unknown rows are ignored."""
        r = np.asarray(rows, dtype=np.int64).reshape(-1)
        r = np.unique(r[(r >= 0) & (r < self._n)])
        r = r[self._alive[r]]
        if not r.size:
            return
        ptr, terms, _ = self._rows_csr()
        self._alive[r] = False
        for row in r.tolist():
            np.subtract.at(self._df, terms[ptr[row] : ptr[row + 1]], 1)
        self._total -= float(self._dl[r].sum())
        self._live -= int(r.size)

    def search(self, query_terms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """BM25 of every live row that holds a query term: ``(rows ascending, scores float64)``.

        Each distinct term counts once (a repeated query word is not more important)."""
        ids = sorted({self._terms[t] for t in query_terms if t in self._terms})
        if not ids or self._live == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float64)
        avgdl = self._total / max(self._live, 1)
        idf = bm25_idf(self._live, self._df[ids].astype(np.float64))
        parts_r, parts_s = [], []
        for tptr, prow, ptf in self._segments():
            for tid, w in zip(ids, idf.tolist(), strict=True):
                if tid + 1 >= tptr.size or tptr[tid] == tptr[tid + 1]:
                    continue
                rr = prow[tptr[tid] : tptr[tid + 1]]
                parts_r.append(rr)
                parts_s.append(bm25(ptf[tptr[tid] : tptr[tid + 1]].astype(np.float64), self._dl[rr], w, avgdl))
        if not parts_r:
            return np.zeros(0, np.int64), np.zeros(0, np.float64)
        rows = np.concatenate(parts_r)
        scores = np.concatenate(parts_s)
        keep = self._alive[rows]
        rows, scores = rows[keep], scores[keep]
        if rows.size * 8 > self._n:  # long lists: one dense accumulator (O(n + m)) beats sorting them
            acc = np.bincount(rows, weights=scores, minlength=self._n)
            hit = np.flatnonzero(acc)
            return hit, acc[hit]
        uniq, inv = np.unique(rows, return_inverse=True)
        return uniq, np.bincount(inv, weights=scores, minlength=uniq.size)

    # ------------------------------------------------------------------ persistence
    def save(self, d: Path) -> None:
        d.mkdir(parents=True, exist_ok=True)
        ptr, terms, tf = self._rows_csr()
        np.save(d / "row_ptr.npy", ptr)
        np.save(d / "row_terms.npy", terms)
        np.save(d / "row_tf.npy", tf)
        np.save(d / "dl.npy", self._dl)
        np.save(d / "alive.npy", self._alive)
        (d / "terms.json").write_text(json.dumps(list(self._terms)))

    @classmethod
    def load(cls, d: Path) -> LexicalIndex:
        idx = cls()
        try:
            ptr, terms, tf = (np.load(d / f"{n}.npy") for n in ("row_ptr", "row_terms", "row_tf"))
            dl, alive = np.load(d / "dl.npy"), np.load(d / "alive.npy")
            names = json.loads((d / "terms.json").read_text())
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read the lexical index in {d}: {exc}") from exc
        n = int(dl.size)
        if ptr.size != n + 1 or alive.size != n or int(ptr[-1]) != terms.size or tf.size != terms.size \
                or (terms.size and int(terms.max()) >= len(names)):
            raise StoreError(f"the lexical index in {d} is inconsistent")
        idx._terms = {t: i for i, t in enumerate(names)}
        idx._row_ptr, idx._row_terms, idx._row_tf = [ptr.astype(np.int64)], [terms.astype(np.int32)], [tf]
        idx._n, idx._alive, idx._dl = n, alive.astype(bool), dl.astype(np.float64)
        live_terms = terms[np.repeat(idx._alive, np.diff(ptr))]
        idx._df = np.bincount(live_terms, minlength=len(names)).astype(np.int64)
        idx._live = int(idx._alive.sum())
        idx._total = float(idx._dl[idx._alive].sum())
        idx._merge()
        return idx

