"""The lexical channel of the PostgreSQL store: PostgreSQL full-text search with exact BM25 (issue 22).

Each item's terms (:func:`vimrag.index.lexical.tokenize`, in Python, the same as the embedded store's) are
written as a ``tsvector`` whose positions count occurrences, so ``cardinality(positions)`` is the term
frequency; a GIN index finds the rows holding a query term (``lex @@ 'a' | 'b'``), and BM25 (k1 = 1.2,
b = 0.75, Lucene's idf) is computed in SQL from the per-term document frequencies in ``lex_df`` and the
total length in ``meta.lex_total`` — kept in the same transactions as the items. ``ts_rank`` is not used:
it is no BM25 (no idf, no length saturation), and matching the embedded store score for score needs
the same formula on the same statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from vimrag.index.lexical import K1, TOKENIZER_VERSION, B, bm25_idf
from vimrag.store import _codec

Exec = Callable[..., Any]


def write_lex(x: Exec, rows: Sequence[tuple[str, str, dict[str, int], int]]) -> None:
    """Set ``lex`` / ``lex_len`` of freshly copied rows ``(source, id, term counts, length)``."""
    if not rows:
        return
    x("""UPDATE S.items i SET lex = u.l::tsvector, lex_len = u.n
         FROM unnest(%s::text[], %s::text[], %s::text[], %s::int4[]) AS u(s, id, l, n)
         WHERE i.source = u.s AND i.id = u.id""",
      ([r[0] for r in rows], [r[1] for r in rows], [_codec.tsvector_literal(r[2]) for r in rows],
       [int(r[3]) for r in rows]))


def lex_delta(x: Exec, source: str, sign: int) -> None:
    """Add (+1) or take out (−1) one source's rows from the document frequencies and the total length."""
    x(f"""INSERT INTO S.lex_df AS d (term, df)
          SELECT u.lexeme, {int(sign)} * count(*) FROM S.items i, unnest(i.lex) u WHERE i.source = %(s)s
          GROUP BY u.lexeme
          ON CONFLICT (term) DO UPDATE SET df = d.df + EXCLUDED.df""", {"s": source})
    x(f"""UPDATE S.meta SET value = (value::bigint + {int(sign)} *
          (SELECT coalesce(sum(lex_len), 0) FROM S.items WHERE source = %(s)s))::text
          WHERE key = 'lex_total'""", {"s": source})


def retokenize_if_stale(x: Exec, version: int | None) -> None:
    """Rows tokenized by another :data:`~vimrag.index.lexical.TOKENIZER_VERSION` lose their terms, which
    :func:`backfill` then writes again (in the same transaction as the schema check)."""
    if version != TOKENIZER_VERSION:
        x("UPDATE S.items SET lex = NULL WHERE lex IS NOT NULL")


def stamp_tokenizer(x: Exec) -> None:
    x("""INSERT INTO S.meta VALUES ('lex_tokenizer', %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value""",
      (str(TOKENIZER_VERSION),))


def backfill(x: Exec, names: Callable[[Sequence[int]], dict[int, str]], batch: int = 2000) -> int:
    """Give every row written before the lexical channel existed its terms, then recount the statistics.
    Returns the rows filled (0 on every later open: one indexed query)."""
    filled = 0
    while True:
        rows = x(f"SELECT source, id, text, meta, locator, has FROM S.items WHERE lex IS NULL LIMIT {batch}"
                 ).fetchall()
        if not rows:
            break
        vocab = names(sorted({int(c) for r in rows for c in (r[5] or [])}))
        out = []
        for src, iid, text, meta, loc, has in rows:
            counts, n = _codec.lexical_counts(src, text, meta, loc, [vocab.get(int(c), "") for c in has or []])
            out.append((src, iid, counts, n))
        write_lex(x, out)
        filled += len(rows)
    if filled:
        x("DELETE FROM S.lex_df")
        x("INSERT INTO S.lex_df SELECT u.lexeme, count(*) FROM S.items i, unnest(i.lex) u GROUP BY u.lexeme")
        x("""INSERT INTO S.meta VALUES ('lex_total', (SELECT coalesce(sum(lex_len), 0) FROM S.items)::text)
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value""")
    return filled


def candidates(x: Exec, terms: Sequence[str], n_rows: int, q: np.ndarray, state_sql: str,
               params: dict[str, Any]) -> list[tuple[str, int, float, float]]:
    """Every row holding a query term: ``(id, logic state, cosine, BM25)``. ``state_sql`` computes the
    row's Algorithm 1 state from ``has`` / ``not_has`` with ``params``."""
    terms = sorted(set(terms))
    if not terms or n_rows <= 0:
        return []
    stats = x("""SELECT term, df FROM S.lex_df WHERE term = ANY(%(t)s::text[]) AND df > 0""", {"t": terms}).fetchall()
    if not stats:
        return []
    total = x("SELECT value::float8 FROM S.meta WHERE key = 'lex_total'").fetchone()
    avgdl = max(float(total[0]) if total else 0.0, 1e-9) / n_rows
    t = [s[0] for s in stats]
    idf = bm25_idf(n_rows, np.asarray([float(s[1]) for s in stats]))
    tsq = " | ".join(f"'{w}'" for w in t)
    sql = f"""
      WITH q(term, idf) AS (SELECT * FROM unnest(%(lt)s::text[], %(lw)s::float8[])),
      hit AS (
        SELECT i.source, i.id, sum(q.idf * cardinality(u.positions) * {K1 + 1.0}
                                   / (cardinality(u.positions) + {K1} * ({1.0 - B} + {B} * i.lex_len / %(avg)s)))
               AS bm25
        FROM S.items i CROSS JOIN LATERAL unnest(i.lex) u JOIN q ON q.term = u.lexeme
        WHERE i.lex @@ %(tsq)s::tsquery
        GROUP BY i.source, i.id)
      SELECT i.id, {state_sql} AS state, 1 - (i.vector <=> %(q)b) AS dense, h.bm25
      FROM hit h JOIN S.items i ON i.source = h.source AND i.id = h.id"""
    rows = x(sql, {**params, "q": q, "lt": t, "lw": idf.tolist(), "avg": avgdl, "tsq": tsq}).fetchall()
    return [(r[0], int(r[1]), float(r[2]), float(r[3])) for r in rows]
