#!/usr/bin/env bash
# Run the whole test suite. Starts a throw-away PostgreSQL + pgvector server when this machine can
# (scripts/pg_ci.sh), so the PostgreSQL backend is tested against a real server; otherwise those tests
# are skipped with the reason.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -z "${VIMRAG_TEST_PG_URI:-}" ] && [ -x scripts/pg_ci.sh ]; then
  if uri=$(scripts/pg_ci.sh 2>/tmp/vimrag-pg-setup.log | tail -n1) && [ -n "$uri" ]; then
    export VIMRAG_TEST_PG_URI="$uri"
    echo "[test] PostgreSQL for tests: $VIMRAG_TEST_PG_URI" >&2
  else
    echo "[test] no PostgreSQL available (see /tmp/vimrag-pg-setup.log); postgres tests will be skipped" >&2
  fi
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
