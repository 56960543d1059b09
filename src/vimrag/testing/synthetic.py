"""Seeded synthetic PolarMem workload: clustered vectors and Zipf-distributed concept sets.

Used by ``benchmarks/polar_search.py`` and the index tests. Real sentence embeddings are not uniform on
the sphere: they sit in topical clusters, and which concepts an item has depends on its topic. The
generator reproduces both: vectors are ``center + noise`` (normalized), and concepts are drawn from a
global Zipf law mixed with a cluster-specific shifted Zipf law, so similarity and concepts correlate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SyntheticStore:
    """Vectors (n, dim) float32 L2-normalized; per-row HAS / NOT_HAS concept id arrays; cluster centers."""

    vectors: np.ndarray
    has: list[np.ndarray]
    not_has: list[np.ndarray]
    centers: np.ndarray
    cluster: np.ndarray
    n_concepts: int


@dataclass(frozen=True)
class SyntheticQuery:
    vector: np.ndarray
    pos: tuple[int, ...]
    neg: tuple[int, ...]
    kind: str


def _normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return x


def zipf_cdf(n_concepts: int, s: float = 1.05) -> np.ndarray:
    p = 1.0 / np.arange(1, n_concepts + 1, dtype=np.float64) ** s
    return np.cumsum(p / p.sum())


def make_store(
    n: int = 200_000,
    dim: int = 384,
    n_concepts: int = 2000,
    n_has: int = 10,
    n_not: int = 8,
    n_clusters: int = 256,
    noise: float = 0.9,
    seed: int = 0,
) -> SyntheticStore:
    """Generate ``n`` items. ``noise`` is the per-dimension std relative to a unit center (cos≈0.5–0.6)."""
    rng = np.random.default_rng(seed)
    centers = _normalize(rng.standard_normal((n_clusters, dim)))
    # Unequal cluster sizes, like real corpora.
    weights = rng.dirichlet(np.full(n_clusters, 2.0))
    cluster = rng.choice(n_clusters, size=n, p=weights).astype(np.int32)
    vectors = np.empty((n, dim), dtype=np.float32)
    step = 50_000
    for a in range(0, n, step):
        b = min(n, a + step)
        block = rng.standard_normal((b - a, dim), dtype=np.float32) * np.float32(noise / np.sqrt(dim))
        block += centers[cluster[a:b]]
        vectors[a:b] = _normalize(block)
    # Concepts: half the draws follow the global Zipf ranks, half a cluster-specific rotation of them.
    cdf = zipf_cdf(n_concepts)
    m = 3 * (n_has + n_not)
    ranks = np.minimum(np.searchsorted(cdf, rng.random((n, m))), n_concepts - 1).astype(np.int64)
    shift = rng.integers(0, n_concepts, size=n_clusters)[cluster][:, None]
    local = rng.random((n, m)) < 0.5
    cands = np.where(local, (ranks + shift) % n_concepts, ranks).astype(np.int32)
    # Keep first occurrences in draw order (sampling without replacement, vectorised).
    order = np.argsort(cands, axis=1, kind="stable")
    srt = np.take_along_axis(cands, order, axis=1)
    dup_sorted = np.zeros_like(srt, dtype=bool)
    dup_sorted[:, 1:] = srt[:, 1:] == srt[:, :-1]
    dup = np.zeros_like(dup_sorted)
    np.put_along_axis(dup, order, dup_sorted, axis=1)
    keep_rank = np.cumsum(~dup, axis=1)
    has: list[np.ndarray] = []
    not_has: list[np.ndarray] = []
    for i in range(n):
        row, kr, d = cands[i], keep_rank[i], dup[i]
        ok = ~d
        has.append(row[ok & (kr <= n_has)])
        not_has.append(row[ok & (kr > n_has) & (kr <= n_has + n_not)])
    return SyntheticStore(vectors, has, not_has, centers, cluster, n_concepts)


def make_queries(store: SyntheticStore, n_queries: int = 200, seed: int = 1) -> list[SyntheticQuery]:
    """A mixed workload covering entailed sets that are empty, tiny, medium and huge, and neutral-tier cases.

    Kinds (round robin): ``empty`` (Q+ concept absent from memory → the neutral tier answers), ``tiny``
    (tail concept, often < k verified → neutral fill), ``medium`` (mid-frequency concept, 1k–10k rows),
    ``huge`` (two head concepts, tens of thousands of rows), ``neg_only`` (no Q+, Q− a head concept),
    ``mixed`` (medium Q+ and head Q−), ``multi`` (three random concepts and one negative).
    """
    rng = np.random.default_rng(seed)
    nc = store.n_concepts
    counts = np.bincount(np.concatenate(store.has), minlength=nc)
    by_freq = np.argsort(-counts, kind="stable")
    head, mid, tail = by_freq[:10], by_freq[80:400], by_freq[-200:]
    kinds = ["empty", "tiny", "medium", "huge", "neg_only", "mixed", "multi"]
    out: list[SyntheticQuery] = []
    for i in range(n_queries):
        kind = kinds[i % len(kinds)]
        c = rng.integers(0, len(store.centers))
        dim = store.vectors.shape[1]
        noise = np.asarray(rng.standard_normal(dim), dtype=np.float32) / np.float32(np.sqrt(dim))
        v = store.centers[c] + np.float32(0.8) * noise
        v = (v / np.linalg.norm(v)).astype(np.float32)
        if kind == "empty":
            pos: tuple[int, ...] = (nc + int(rng.integers(0, 100)),)
            neg: tuple[int, ...] = (int(rng.choice(mid)),)
        elif kind == "tiny":
            pos, neg = (int(rng.choice(tail)),), ()
        elif kind == "medium":
            pos, neg = (int(rng.choice(mid)),), ()
        elif kind == "huge":
            pos, neg = tuple(int(x) for x in rng.choice(head, 2, replace=False)), ()
        elif kind == "neg_only":
            pos, neg = (), (int(rng.choice(head)),)
        elif kind == "mixed":
            pos, neg = (int(rng.choice(mid)),), (int(rng.choice(head)),)
        else:
            pos = tuple(int(x) for x in rng.choice(nc, 3, replace=False))
            neg = (int(rng.choice(nc)),)
        out.append(SyntheticQuery(v, pos, neg, kind))
    return out


def _word_shift(n_clusters: int, n_words: int, seed: int) -> np.ndarray:
    """Each cluster's rotation of the word ranks (its topical vocabulary)."""
    return np.random.default_rng(seed + 1000).integers(0, n_words, size=n_clusters)


def make_documents(store: SyntheticStore, n_words: int = 30_000, length: int = 60, topical: float = 0.5,
                   seed: int = 2) -> list[tuple[dict[str, int], int]]:
    """Per item, the BM25 statistics (``term_counts`` form) of a synthetic text: ~``length`` words, half
    from a global Zipf law over ``n_words`` words and half from a cluster-specific rotation of it, so words
    and vectors correlate as in real corpora (the lexical workload of ``benchmarks/polar_search.py``)."""
    rng = np.random.default_rng(seed)
    n = store.vectors.shape[0]
    lens = np.maximum(rng.poisson(length, n), 1)
    total = int(lens.sum())
    cdf = zipf_cdf(n_words, 1.0)
    ranks = np.minimum(np.searchsorted(cdf, rng.random(total)), n_words - 1).astype(np.int64)
    shift = _word_shift(len(store.centers), n_words, seed)[np.repeat(store.cluster, lens)]
    local = rng.random(total) < topical
    words = np.where(local, (ranks + shift) % n_words, ranks)
    out: list[tuple[dict[str, int], int]] = []
    a = 0
    for i in range(n):
        w, c = np.unique(words[a : a + lens[i]], return_counts=True)
        out.append(({f"w{x}": int(y) for x, y in zip(w.tolist(), c.tolist(), strict=True)}, int(lens[i])))
        a += int(lens[i])
    return out


def text_query_terms(store: SyntheticStore, query: SyntheticQuery, n_words: int = 30_000, n_terms: int = 3,
                     seed: int = 3) -> tuple[str, ...]:
    # the documents' word rotation is make_documents' default seed (2)
    """Words for a query: drawn from the topical words of the cluster its vector comes from (skipping the
    100 most frequent words, as a stop list would), like a user naming what the passage is about."""
    rng = np.random.default_rng(seed + int(abs(float(query.vector[0])) * 1e6))
    c = int(np.argmax(store.centers @ query.vector))
    shift = int(_word_shift(len(store.centers), n_words, seed=2)[c])
    ranks = rng.integers(100, 3000, size=n_terms)
    return tuple(f"w{(int(r) + shift) % n_words}" for r in ranks)
