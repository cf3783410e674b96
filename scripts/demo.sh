#!/usr/bin/env bash
# The main job on the built-in default: install, build, show this CPU, synthesise a
# BitNet b1.58 2B4T-shaped model (TQ2_0 weights, Q6_K tied embedding, as llama.cpp
# quantises it), read it back, tune the kernels for this CPU, generate from it and benchmark
# it like llama-bench.
# Usage: scripts/demo.sh [--preset tiny|2b4t|3b|8b]   (default 2b4t; models go to models/)
set -euo pipefail
cd "$(dirname "$0")/.."
PRESET=2b4t
if [ "${1:-}" = "--preset" ]; then PRESET=$2; fi

./scripts/setup.sh
./scripts/build.sh
TERN=./build/cli/tern
MODEL=models/${PRESET}-tq2_0.gguf
mkdir -p models

echo "== tern info"
$TERN info
echo
echo "== tern synth --preset $PRESET"
$TERN synth --preset "$PRESET" --type tq2_0 --embd-type q6_k -o "$MODEL"
echo
echo "== tern inspect $MODEL (first lines)"
$TERN inspect "$MODEL" > models/inspect.txt
head -n 40 models/inspect.txt
echo "..."
tail -n 2 models/inspect.txt
echo
echo "== tern tune -m $MODEL (fastest verified kernel per matmul shape, cached in \$TERN_CACHE_DIR or ~/.cache/tern)"
$TERN tune -m "$MODEL"
echo
echo "== tern run -m $MODEL (32 tokens, 2 threads; random weights, so the text is noise)"
$TERN run -m "$MODEL" -p "The capital of France is" -n 32 -t 2 --seed 1
echo
echo "== tern bench -m $MODEL (llama-bench's pp128 / tg32 tests, 3 repetitions, 1 and 2 threads)"
$TERN bench -m "$MODEL" -p 128 -n 32 -t 1,2 -r 3
