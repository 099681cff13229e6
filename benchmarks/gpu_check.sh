#!/usr/bin/env bash
# One command for a lent GPU: the gpu preset's smoke run end to end, bf16 tokens/s and MFU of
# Pythia-70M and -160M (eager and torch.compile), K-stacked tiny models against one; results in
# docs/gpu/gpu_check.{md,json}. `--cpu-smoke` runs the same steps on tiny sizes here in seconds.
# Then the rest of --budget-s on the prediction study (rows in OUT/sweep_new_rows.jsonl). Other
# arguments go to benchmarks/gpu_check.py (--budget-s, --out, --sweep-table, --sweep-workers).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; fi
exec "$PYTHON" benchmarks/gpu_check.py "$@"
