#!/usr/bin/env bash
# Test metrics of the shipped examples over five seeds (mean ± sample sd), the figures issue 5 asks for:
# breast cancer with the peers' settings (accuracy >= 0.96, AUROC >= 0.99; Keras 0.965/0.994, PyTorch 0.974/0.996)
# and the digits CNN (accuracy >= 0.95; Keras 0.958). Usage: bash benches/seeds.sh [SPEC...]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
specs=("$@")
[ ${#specs[@]} -eq 0 ] && specs=(specs/breast_cancer_peers.galen specs/digits_cnn.galen specs/heart_rhythm_lstm.galen)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for spec in "${specs[@]}"; do
  for seed in 1 2 3 4 5; do
    ./target/release/galen train "$spec" --seed "$seed" --quiet --out "$work/$(basename "$spec" .galen)-$seed" \
      >/dev/null 2>&1
  done
  python3 - "$spec" "$work/$(basename "$spec" .galen)" <<'PY'
import json, statistics, sys
spec, prefix = sys.argv[1], sys.argv[2]
rows = [json.load(open(f"{prefix}-{seed}/metrics.json"))["final"]["test"] for seed in range(1, 6)]
def summary(key):
    values = [row[key] for row in rows if row.get(key) is not None]
    return f"{key} {statistics.mean(values):.4f} ± {statistics.stdev(values):.4f} ({', '.join(f'{v:.4f}' for v in values)})"
keys = [key for key in ("accuracy", "auroc", "rmse", "r2") if key in rows[0]]
print(f"{spec} (seeds 1-5, test split): " + "; ".join(summary(key) for key in keys))
PY
done
