#!/usr/bin/env bash
# Runs galen's data benchmark and pandas on the same generated file, one after the other, on 2 threads.
# pandas comes from a virtualenv under target/ (created on first use from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${GALEN_BENCH_ROWS:-1000000}"
venv=target/bench-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet pandas
fi
export RAYON_NUM_THREADS=2
echo "== galen"
GALEN_BENCH_ROWS="$rows" cargo bench --quiet --bench data_pipeline
echo "== pandas"
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$venv/bin/python" benches/compare_pandas.py "target/bench-data/wide_${rows}.csv"
