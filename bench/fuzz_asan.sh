#!/usr/bin/env bash
# 1,000,000 fuzzed datagrams under ASan+UBSan, in chunks of 100,000 (one
# process each, so one sanitizer abort loses one chunk, not the run).
#
#   bench/fuzz_asan.sh [OUT_DIR]        (default /tmp/mbedtls-py-fuzz-asan)
#   FIRST=5 CHUNKS=5 bench/fuzz_asan.sh OUT   chunks 5..9 only (e.g. a second process)
#
# Runs a snapshot of the sanitized tree (built by `./dev.sh sanitize`) copied
# to OUT_DIR/tree (once: an existing snapshot is reused), so later edits to the
# checkout do not change a measurement.  Bounded: CHUNKS (10) x ITER (100000), each chunk under
# `timeout CHUNK_TIMEOUT` (5400 s).  UBSan reports do not stop a chunk.  Per chunk: chunkN.json (the fuzzer's
# --json report), chunkN.log (progress and any sanitizer report), and a line
# "chunk N rc=R seconds=S" in status.txt.  Summarise with
# `python bench/fuzz_asan_summary.py OUT_DIR`.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${1:-/tmp/mbedtls-py-fuzz-asan}
FIRST=${FIRST:-0}
CHUNKS=${CHUNKS:-10}
ITER=${ITER:-100000}
SEED=${SEED:-asan-1m}
[ -x .venv-asan/bin/python ] && ls build/asan-tree/mbedtls_py/_lib*.so >/dev/null 2>&1 ||
    { echo "run ./dev.sh sanitize first (it builds the ASan tree)" >&2; exit 2; }
if [ ! -d "$OUT/tree/mbedtls_py" ]; then
    mkdir -p "$OUT/tree"
    cp -a build/asan-tree/mbedtls_py "$OUT/tree/"
    git -C "$ROOT" rev-parse HEAD > "$OUT/commit.txt" 2>/dev/null || true
fi
export LD_PRELOAD=$(gcc -print-file-name=libasan.so)
# UBSan reports and goes on (each distinct report once per chunk, nothing
# suppressed, so every upstream report is listed); an ASan report ends the chunk.
export ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=0:print_stacktrace=1
cd "$OUT/tree"
for i in $(seq "$FIRST" $((FIRST + CHUNKS - 1))); do
    t0=$(date +%s)
    timeout "${CHUNK_TIMEOUT:-5400}" "$ROOT/.venv-asan/bin/python" -m mbedtls_py fuzz \
        --seed "$SEED" --start $((i * ITER)) --iterations "$ITER" --json \
        > "$OUT/chunk$i.json" 2> "$OUT/chunk$i.log"
    rc=$?
    echo "chunk $i rc=$rc seconds=$(( $(date +%s) - t0 ))" >> "$OUT/status.txt"
done
