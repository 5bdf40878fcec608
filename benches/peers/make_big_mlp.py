"""Writes the big-MLP benchmark's data: 25,000 rows of 1000 features drawn uniformly from {0.000, 0.001, ..., 0.999}
and a class 0..9, from a fixed seed. `big_mlp.csv` is what galen reads (benches/specs/big_mlp.galen); `big_mlp.npz`
holds the same numbers for the peer scripts, which would spend minutes parsing the CSV in Python.

Usage: python benches/peers/make_big_mlp.py OUT_DIR [--rows N] [--features N]
"""
import argparse
import os

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--rows", type=int, default=25_000)
parser.add_argument("--features", type=int, default=1000)
args = parser.parse_args()
rng = np.random.default_rng(20261129)
codes = rng.integers(0, 1000, size=(args.rows, args.features))
labels = rng.integers(0, 10, size=args.rows)
os.makedirs(args.out, exist_ok=True)
text = np.array([f"{k / 1000:.3f}" for k in range(1000)])
csv_path = os.path.join(args.out, "big_mlp.csv")
with open(csv_path + ".tmp", "w") as handle:
    handle.write(",".join(f"f{i}" for i in range(args.features)) + ",label\n")
    for row, label in zip(codes, labels):
        handle.write(",".join(text[row]) + f",{label}\n")
os.replace(csv_path + ".tmp", csv_path)
np.savez(os.path.join(args.out, "big_mlp.npz"), x=(codes / 1000).astype(np.float32), y=labels.astype(str))
print(f"wrote {csv_path} ({args.rows} rows x {args.features} features) and big_mlp.npz")
