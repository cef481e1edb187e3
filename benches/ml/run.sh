#!/usr/bin/env bash
# Candle vs PyTorch on the same weights (models/default), same token ids, same
# thread counts, in one run. Engines alternate per thread count and repetition
# so background load hits both alike. Writes benches/ml/last-run.jsonl and
# prints a markdown table (best p50 over the repetitions).
#
#   benches/ml/run.sh [REPS]        # default 2; needs models/.venv-train (models/fetch.sh)
#
# CANDLE_BASELINE=path/to/older/candle_bench adds that binary to the
# alternation (engine "candle-baseline"), so a change is measured against the
# previous build under the same load rather than against an earlier run.
set -euo pipefail
cd "$(dirname "$0")/../.."
reps="${1:-2}"
python=models/.venv-train/bin/python
out=benches/ml/last-run.jsonl
cargo build --release -p detector-worker --example candle_bench >&2
bench="${CARGO_TARGET_DIR:-target}/release/examples/candle_bench"
# glibc otherwise returns every large tensor buffer to the OS and page-faults
# it back in on the next op (~10 % of Candle's time in the profile).
export GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824}"
: > "$out"
for threads in 1 2; do
  for rep in $(seq "$reps"); do
    if [ -n "${CANDLE_BASELINE:-}" ]; then
      RAYON_NUM_THREADS=$threads OMP_NUM_THREADS=$threads "$CANDLE_BASELINE" \
        | sed 's/"engine":"candle"/"engine":"candle-baseline"/' >> "$out"
    fi
    RAYON_NUM_THREADS=$threads OMP_NUM_THREADS=$threads "$bench" >> "$out"
    OMP_NUM_THREADS=$threads "$python" benches/ml/torch_bench.py "$threads" 2>/dev/null >> "$out"
  done
done
"$python" benches/ml/summarize.py "$out"
