#!/usr/bin/env bash
# Benchmark peers, built here and cached outside the repo; never a dependency of the service.
#   bench/peers/prepare.sh MODEL_DIR
# builds llama.cpp's `llama-server` from the llama.cpp tree vendored in the llama-cpp-python sdist
# on PyPI (about 7 minutes on 2 cores, once), converts MODEL_DIR (our safetensors copy of the
# model) to an f32 GGUF with that tree's convert_hf_to_gguf.py (sentencepiece goes into the cache,
# not the project's venv), and prints two lines: the llama-server binary and the f32 GGUF.
# PEERS_DIR (default ~/.cache/llm-batch-service/peers) holds it all.
set -euo pipefail
model_dir=${1:?usage: prepare.sh MODEL_DIR}
python=${PYTHON:-$(dirname "$0")/../../.venv/bin/python}
version=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
peers=${PEERS_DIR:-$HOME/.cache/llm-batch-service/peers}
tree=$peers/llama-cpp-python-$version
llama=$tree/vendor/llama.cpp
binary=$tree/build/bin/llama-server
mkdir -p "$peers"

if [ ! -d "$llama" ]; then
  tmp=$(mktemp -d)
  "$python" -m pip download -q --no-binary :all: --no-deps -d "$tmp" "llama-cpp-python==$version" >&2
  tar -xzf "$tmp"/llama_cpp_python-*.tar.gz -C "$peers"
  mv "$peers/llama_cpp_python-$version" "$tree"
  rm -rf "$tmp"
fi
if [ ! -x "$binary" ]; then
  command -v cmake >/dev/null || { echo "prepare.sh: cmake is needed (apt-get install cmake)" >&2; exit 1; }
  cmake -S "$llama" -B "$tree/build" -DCMAKE_BUILD_TYPE=Release \
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >&2
  cmake --build "$tree/build" --target llama-server -j "$(nproc)" >&2
fi

gguf=$peers/$(basename "$model_dir")-f32.gguf
if [ ! -f "$gguf" ]; then
  [ -d "$peers/pylib/sentencepiece" ] || "$python" -m pip install -q --target "$peers/pylib" sentencepiece >&2
  PYTHONPATH="$peers/pylib:$llama/gguf-py:$llama" "$python" "$llama/convert_hf_to_gguf.py" "$model_dir" \
    --outtype f32 --outfile "$gguf.partial" >&2
  mv "$gguf.partial" "$gguf"
fi
echo "$binary"
echo "$gguf"
