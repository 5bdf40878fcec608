#!/usr/bin/env bash
# Runs galen and the peer frameworks (JAX, Keras on TensorFlow, PyTorch) on the same models, data, split sizes and
# epochs, one after the other on the same cores, and prints a table of their figures and galen/peer ratios:
#   big_mlp            20,000 training rows x 1000 random features, dense 512-512-10, adam, batch 128, 5 epochs
#   breast_cancer      specs/breast_cancer_peers.galen (64-64-2, batch 32, 50 epochs), also `galen train`'s whole
#                      process against each peer script's whole process
#   digits_cnn         specs/digits_cnn.galen
#   heart_rhythm_lstm  specs/heart_rhythm_lstm.galen
# then `galen bench --epochs 1` of every example in specs/ for its compile time.
#
# Usage: benches/peers.sh PEERS_DIR [--big-epochs N] [--epochs N] [--models "big_mlp digits_cnn"]
#   PEERS_DIR    the environments benches/peers/setup.sh made (venv-jax, venv-tf; PyTorch on /usr/bin/python3)
#   --big-epochs epochs of big_mlp (default 5, the spec's): fewer when galen's backend is slow
#   --epochs     epochs of every other model (default: each spec's)
# Environment: BENCH_CORES (default 0,1) pins every process with taskset; BENCH_THREADS (default 2).
# Results land in target/bench-results/DATE-TIME/ (one JSON line and one `/usr/bin/time -v` file per run).
# A peer that is missing or fails prints n/a; the run goes on.
set -uo pipefail
cd "$(dirname "$0")/.."
peers="${1:?usage: benches/peers.sh PEERS_DIR [--big-epochs N] [--epochs N] [--models \"...\"]}"
shift
big_epochs=5
epochs=""
models="big_mlp breast_cancer digits_cnn heart_rhythm_lstm"
while [ $# -gt 0 ]; do
  case "$1" in
    --big-epochs) big_epochs="$2"; shift 2 ;;
    --epochs) epochs="$2"; shift 2 ;;
    --models) models="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
cores="${BENCH_CORES:-0,1}"
threads="${BENCH_THREADS:-2}"
results="target/bench-results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$results" target/bench-data

declare -A python=(
  [jax]="$peers/venv-jax/bin/python"
  [keras]="$peers/venv-tf/bin/python"
  [torch]="/usr/bin/python3"
)
declare -A data=(
  [big_mlp]="target/bench-data/big_mlp.csv"
  [breast_cancer]="specs/data/breast_cancer.csv"
  [digits_cnn]="specs/data/digits.csv"
  [heart_rhythm_lstm]="specs/data/heart_rhythm.csv"
)
declare -A spec=(
  [big_mlp]="benches/specs/big_mlp.galen"
  [breast_cancer]="specs/breast_cancer_peers.galen"
  [digits_cnn]="specs/digits_cnn.galen"
  [heart_rhythm_lstm]="specs/heart_rhythm_lstm.galen"
)

# One run, pinned and timed: NAME COMMAND... -> $results/NAME.json (its JSON line), NAME.time, NAME.log (stderr).
run() {
  local name="$1"
  shift
  echo "== $name" >&2
  /usr/bin/time -v -o "$results/$name.time" taskset -c "$cores" "$@" >"$results/$name.json" 2>"$results/$name.log" \
    || echo "   failed (exit $?): see $results/$name.log" >&2
}

echo "== building galen (release)" >&2
cargo build --release --quiet || { echo "galen does not build" >&2; exit 1; }
galen=target/release/galen

if [ ! -f target/bench-data/big_mlp.csv ] || [ ! -f target/bench-data/big_mlp.npz ]; then
  echo "== writing the big-MLP data" >&2
  maker=""
  for candidate in "${python[jax]}" "${python[keras]}" /usr/bin/python3 python3; do
    if "$candidate" -c "import numpy" >/dev/null 2>&1; then maker="$candidate"; break; fi
  done
  [ -n "$maker" ] && "$maker" benches/peers/make_big_mlp.py target/bench-data >&2 \
    || echo "   no Python with numpy: big_mlp is skipped" >&2
fi

{
  echo "galen $(git rev-parse --short HEAD 2>/dev/null) ($(git status --porcelain 2>/dev/null | grep -q . && echo dirty || echo clean)), $threads threads on cores $cores"
  grep -m1 "model name" /proc/cpuinfo
  grep -m1 "cpu MHz" /proc/cpuinfo
  grep -o -m1 -w -e avx512f /proc/cpuinfo || echo "no avx512f"
  echo "load average before the runs: $(cut -d" " -f1-3 /proc/loadavg) (other work on the machine skews every figure)"
} >"$results/machine.txt"
mhz="$(grep -m1 "cpu MHz" /proc/cpuinfo | awk -F: '{print $2}' | tr -d ' ')"
cores_used="$(echo "$cores" | tr ',' '\n' | wc -l)"
# f32 FMA peak with AVX2 and FMA: 2 FMA units x 8 lanes x 2 flops per cycle per core.
peak="$(awk -v mhz="$mhz" -v n="$cores_used" 'BEGIN { printf "%.1f", n * mhz / 1000 * 2 * 8 * 2 }')"

for model in $models; do
  [ -f "${data[$model]}" ] || { echo "== $model: no data at ${data[$model]}" >&2; continue; }
  model_epochs="$epochs"
  [ "$model" = big_mlp ] && model_epochs="$big_epochs"
  epoch_args=()
  [ -n "$model_epochs" ] && epoch_args=(--epochs "$model_epochs")
  run "galen-$model" "$galen" bench "${spec[$model]}" --json --threads "$threads" "${epoch_args[@]}"
  for framework in jax keras torch; do
    if [ -x "${python[$framework]}" ]; then
      run "$framework-$model" env OMP_NUM_THREADS="$threads" "${python[$framework]}" \
        "benches/peers/${framework}_bench.py" "$model" "${data[$model]}" --threads "$threads" "${epoch_args[@]}"
    else
      echo "== $framework-$model: n/a (no ${python[$framework]})" >&2
    fi
  done
  if [ "$model" = breast_cancer ] && [ -z "$model_epochs" ]; then
    # The whole process of training as a user runs it: check, load, compile, 50 epochs, evaluate, write the run.
    out="$results/galen-train-run"
    echo "== galen-train-breast_cancer (whole process)" >&2
    /usr/bin/time -v -o "$results/galen-train-breast_cancer.time" taskset -c "$cores" "$galen" train \
      "${spec[$model]}" --out "$out" --quiet --threads "$threads" \
      >"$results/galen-train-breast_cancer.log" 2>&1 || echo "   failed: see galen-train-breast_cancer.log" >&2
    rm -rf "$out"
  fi
done

for example in specs/*.galen; do
  name="$(basename "$example" .galen)"
  echo "== compile $name" >&2
  taskset -c "$cores" "$galen" bench "$example" --epochs 1 --json --threads "$threads" \
    >"$results/compile-$name.json" 2>"$results/compile-$name.log" || echo "   failed: see compile-$name.log" >&2
done

echo
cat "$results/machine.txt"
echo "peak: $cores_used cores x $mhz MHz x 2 FMA units x 8 f32 lanes x 2 = $peak GFLOP/s"
python3 benches/peers/table.py "$results" --peak-gflops "$peak"
echo "results: $results"
