#!/usr/bin/env bash
# Run the whole test suite. Starts a throw-away PostgreSQL + pgvector server when this machine can
# (scripts/pg_ci.sh), so the PostgreSQL backend is tested against a real server; otherwise those tests
# are skipped with the reason.
set -uo pipefail
cd "$(dirname "$0")/.."
# Style first (seconds): lint and types are part of the suite, CI fails on any finding.
echo "[test] ruff check + mypy" >&2
.venv/bin/ruff check src tests benchmarks || exit 1
.venv/bin/mypy src || exit 1
if [ -z "${VIMRAG_TEST_PG_URI:-}" ] && [ -x scripts/pg_ci.sh ]; then
  if exports=$(scripts/pg_ci.sh 2>/tmp/vimrag-pg-setup.log) && eval "$exports" && [ -n "${VIMRAG_TEST_PG_URI:-}" ]; then
    echo "[test] PostgreSQL + pgvector for tests: $VIMRAG_TEST_PG_URI" >&2
  else
    echo "[test] no PostgreSQL available (see /tmp/vimrag-pg-setup.log); postgres tests will be skipped" >&2
    if [ "${CI:-}" = true ]; then cat /tmp/vimrag-pg-setup.log >&2; echo "[test] CI must test PostgreSQL" >&2; exit 1; fi
  fi
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# --durations: the slowest tests in every CI log, to keep the suite within its 20 minutes
.venv/bin/python -m pytest -q -p no:cacheprovider --durations=30 "$@"
