"""Reads the results benches/peers.sh left in a folder and prints the comparison table.

Files read (any may be missing; its cells print n/a):
  FRAMEWORK-MODEL.json   the one JSON line of a run (`galen bench --json` or a peer script)
  FRAMEWORK-MODEL.time   `/usr/bin/time -v` of that run (whole-process seconds, maximum resident set size)
  galen-train-breast_cancer.time   `galen train` of the breast-cancer example, the whole process
  compile-*.json         `galen bench --epochs 1 --json` of each example in specs/
Usage: python3 benches/peers/table.py RESULTS_DIR [--peak-gflops X]
"""
import json
import math
import os
import sys

FRAMEWORKS = ["galen", "jax", "keras", "torch"]
NAMES = {"galen": "galen", "jax": "JAX", "keras": "Keras", "torch": "PyTorch"}
MODELS = ["big_mlp", "breast_cancer", "digits_cnn", "heart_rhythm_lstm"]


def read_json(path):
    try:
        with open(path) as handle:
            lines = [line for line in handle if line.strip().startswith("{")]
        return json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None


def read_time(path):
    """Whole-process seconds and peak RSS (MiB) from `/usr/bin/time -v`."""
    found = {}
    try:
        with open(path) as handle:
            for line in handle:
                line = line.strip()
                if line.startswith("Elapsed (wall clock) time"):
                    clock = line.rsplit(" ", 1)[1].split(":")
                    found["wall"] = sum(float(part) * 60**i for i, part in enumerate(reversed(clock)))
                elif line.startswith("Maximum resident set size"):
                    found["rss"] = int(line.rsplit(" ", 1)[1]) / 1024
                elif line.startswith("Exit status"):
                    found["status"] = int(line.rsplit(" ", 1)[1])
    except (OSError, ValueError):
        pass
    return found


def number(value, digits=1):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def ratio(a, b):
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return "n/a"
    return f"{a / b:.3g}"


def main():
    results = sys.argv[1]
    peak = None
    if "--peak-gflops" in sys.argv:
        peak = float(sys.argv[sys.argv.index("--peak-gflops") + 1])
    runs = {(f, m): read_json(os.path.join(results, f"{f}-{m}.json")) for f in FRAMEWORKS for m in MODELS}
    times = {(f, m): read_time(os.path.join(results, f"{f}-{m}.time")) for f in FRAMEWORKS for m in MODELS}
    flops = {m: (runs[("galen", m)] or {}).get("train_flops_per_sample") for m in MODELS}

    def steady(f, m):
        run = runs[(f, m)]
        return run and run.get("steady_samples_per_second")

    def first_epoch(f, m):
        run = runs[(f, m)]
        if not run:
            return None
        if f == "galen":
            epochs = run.get("epochs") or []
            return epochs[0]["train_seconds"] if epochs else None
        return run.get("first_epoch_seconds")

    def accuracy(f, m):
        run = runs[(f, m)]
        if not run:
            return None
        value = run.get("evaluation_accuracy") if f == "galen" else run.get("test_accuracy")
        return None if value is None else 100 * value

    def rss(f, m):
        return times[(f, m)].get("rss") or (runs[(f, m)] or {}).get("peak_rss_mb")

    def wall(f, m):
        return times[(f, m)].get("wall") or (runs[(f, m)] or {}).get("process_seconds")

    def percent_of_peak(f, m):
        rate = steady(f, m)
        if not rate or not flops[m] or not peak:
            return None
        return 100 * rate * flops[m] / 1e9 / peak

    metrics = [
        ("steady samples/s", steady, 0, "higher is faster"),
        ("first epoch s", first_epoch, 3, "incl. JIT compile"),
        ("% of f32 FMA peak", percent_of_peak, 2, "matmul FLOPs"),
        ("process s", wall, 2, "whole process"),
        ("peak RSS MB", rss, 0, "max RSS"),
        ("test accuracy %", accuracy, 1, ""),
    ]
    header = ["model", "metric"] + [NAMES[f] for f in FRAMEWORKS] + ["galen/JAX", "galen/Keras", "galen/PyTorch"]
    rows = [header]
    for m in MODELS:
        if not any(runs[(f, m)] for f in FRAMEWORKS):
            continue
        for name, read, digits, _ in metrics:
            values = {f: read(f, m) for f in FRAMEWORKS}
            if all(v is None for v in values.values()):
                continue
            cells = [m, name] + [number(values[f], digits) for f in FRAMEWORKS]
            cells += [ratio(values["galen"], values[f]) for f in ["jax", "keras", "torch"]]
            rows.append(cells)
    train = read_time(os.path.join(results, "galen-train-breast_cancer.time"))
    if train:
        peers = {f: wall(f, "breast_cancer") for f in ["jax", "keras", "torch"]}
        cells = ["breast_cancer", "whole process s", number(train.get("wall"), 2)]
        cells += [number(peers[f], 2) for f in ["jax", "keras", "torch"]]
        cells += [ratio(train.get("wall"), peers[f]) for f in ["jax", "keras", "torch"]]
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(widths[i]) if i < 2 else cell.rjust(widths[i]) for i, cell in enumerate(row)))
        if index == 0:
            print("  ".join("-" * width for width in widths))
    versions = {}
    for (f, _), run in runs.items():
        if run and run.get("version"):
            versions.setdefault(NAMES[f], run["version"] + (f" ({run['backend']})" if run.get("backend") else ""))
    print()
    print("versions: " + "; ".join(f"{name} {version}" for name, version in versions.items()))
    print("ratios are galen / peer: above 1 is galen faster for samples/s, slower for seconds and memory")
    if peak:
        print(f"peak = {peak:.1f} GFLOP/s (see the header); FLOPs per sample are galen's count of the train step's matmuls")
    for m in MODELS:
        if flops[m]:
            print(f"{m}: {flops[m] / 1e6:.4f} MFLOP per training sample (matrix products)")

    compiles = []
    for name in sorted(os.listdir(results)):
        if name.startswith("compile-") and name.endswith(".json"):
            run = read_json(os.path.join(results, name))
            spec = name[len("compile-") : -len(".json")]
            compiles.append((spec, run))
    if compiles:
        print()
        print("compile time (galen bench: lower, optimize and compile the train-step and evaluation graphs)")
        width = max(len(spec) for spec, _ in compiles)
        for spec, run in compiles:
            if run:
                print(f"  {spec.ljust(width)}  {run['compile_ms']:9.1f} ms   load {run['load_ms']:8.1f} ms")
            else:
                print(f"  {spec.ljust(width)}  n/a")


if __name__ == "__main__":
    main()
