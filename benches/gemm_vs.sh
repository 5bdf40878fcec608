#!/usr/bin/env bash
# Times galen's GEMM against another build of `cargo bench --bench gemm` (an earlier commit: say the last one on the
# `gemm` crate, 50f6640), side by side: the two bench binaries run in turn, ROUNDS times, pinned to the same cores,
# and the table gives per product and thread count each build's best and median GFLOP/s and the ratio of the bests
# (on a shared machine the best of several rounds is the least disturbed figure).
#
# Usage: benches/gemm_vs.sh COMMIT [ROUNDS]   (default 7 rounds)
# The other build is made in a worktree under target/gemm-vs/ (its own target folder; the first run takes minutes).
# Environment: BENCH_CORES (default 0,1), GEMM_REPEATS (passed to both), GALEN_CPU (this build's path only).
set -euo pipefail
cd "$(dirname "$0")/.."
commit="${1:?usage: benches/gemm_vs.sh COMMIT [ROUNDS]}"
rounds="${2:-7}"
cores="${BENCH_CORES:-0,1}"
work="target/gemm-vs"
mkdir -p "$work"
if [ ! -d "$work/tree" ]; then
  git worktree add --detach "$work/tree" "$commit" >/dev/null
else
  git -C "$work/tree" checkout --quiet --detach "$commit"
fi
other=$(cd "$work/tree" && CARGO_TARGET_DIR="$PWD/../target" cargo bench --bench gemm --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("executable")][-1])')
this=$(cargo bench --bench gemm --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("executable")][-1])')
: > "$work/other.txt"
: > "$work/this.txt"
for round in $(seq "$rounds"); do
  echo "round $round of $rounds" >&2
  taskset -c "$cores" "$other" >> "$work/other.txt"
  taskset -c "$cores" "$this" >> "$work/this.txt"
done
python3 - "$work/other.txt" "$work/this.txt" "$commit" <<'PY'
import re, statistics, sys
def read(path):
    """{(product, threads): [GFLOP/s, ...]} from the bench's table lines, whichever columns the build prints."""
    runs, peaks = {}, {}
    for line in open(path):
        peak = re.match(r"f32 FMA peak, (\d) thread", line)
        if peak:
            peaks.setdefault(int(peak.group(1)), []).append(float(line.split(":")[1].split()[0]))
            continue
        match = re.match(r"(.+?)\s+(\[\d+, \d+, \d+\])\s+(?:(portable|v3|v4)\s+)?(\d+)\s+([\d.]+)\s+([\d.]+)", line)
        if match:
            key = (match.group(1).strip() + " " + match.group(2), int(match.group(4)), match.group(3) or "")
            runs.setdefault(key, []).append(float(match.group(6)))
    return runs, peaks
other, _ = read(sys.argv[1])
this, peaks = read(sys.argv[2])
print(f"GFLOP/s, best (median) of each build; other = {sys.argv[3]}")
for threads, values in sorted(peaks.items()):
    print(f"f32 FMA peak, {threads} thread(s): best {max(values):.1f} (median {statistics.median(values):.1f})")
print(f"{'product':<40} {'path':>8} {'threads':>7} {'other':>16} {'this':>16} {'ratio':>6} {'of peak':>8}")
for key in this:
    match = [values for (name, threads, _), values in other.items() if (name, threads) == key[:2]]
    if not match:
        continue
    a, b = match[0], this[key]
    peak = max(peaks.get(key[1], [0])) or float("nan")
    print(f"{key[0]:<40} {key[2]:>8} {key[1]:>7} {max(a):>7.1f} ({statistics.median(a):>5.1f}) {max(b):>7.1f} ({statistics.median(b):>5.1f})"
          f" {max(b) / max(a):>6.2f} {100 * max(b) / peak:>7.0f}%")
PY
