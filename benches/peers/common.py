"""What the peer benchmarks share: the models' settings (as galen's specs state them), data loading, the split, the
scaling, epoch timing and the one JSON line each script prints.

Only numpy and the standard library are used here, so that every framework's environment can import it.

The split has galen's sizes (each named part is round(fraction * rows), training takes the rest) and keeps class
proportions, but its rows are the peers' own draw: galen's generator is not reproduced. Scaling is fitted on the
training rows as galen fits it: `standard` with the population standard deviation per column, `minmax` pooled over
every pixel for image-shaped rows.
"""
import csv
import json
import os
import sys
import time

import numpy as np

# Each model as its galen spec states it. `layers` is read by every framework's script; `global_clipnorm`, when a
# model has it, clips the gradients before each update as Keras' optimizer argument of that name does.
MODELS = {
    "big_mlp": {
        "spec": "benches/specs/big_mlp.galen",
        "target": "label",
        "positive": None,
        "scale": "none",
        "shape": None,
        "split": {"val": 0.0, "test": 0.2},
        "layers": [("dense", 512, "relu"), ("dense", 512, "relu"), ("dense", 10, "softmax")],
        "lr": 0.001,
        "batch": 128,
        "epochs": 5,
    },
    "breast_cancer": {
        "spec": "specs/breast_cancer_peers.galen",
        "target": "diagnosis",
        "positive": "malignant",
        "scale": "standard",
        "shape": None,
        "split": {"val": 0.0, "test": 0.2},
        "layers": [("dense", 64, "relu"), ("dense", 64, "relu"), ("dense", 2, "softmax")],
        "lr": 0.001,
        "batch": 32,
        "epochs": 50,
    },
    "digits_cnn": {
        "spec": "specs/digits_cnn.galen",
        "target": "label",
        "positive": None,
        "scale": "minmax",
        "shape": (8, 8, 1),
        "split": {"val": 0.0, "test": 0.2},
        "layers": [("conv2d", 16, 3, "relu"), ("max_pool2d", 2), ("flatten",), ("dense", 10, "softmax")],
        "lr": 0.001,
        "batch": 32,
        "epochs": 20,
    },
    "heart_rhythm_lstm": {
        "spec": "specs/heart_rhythm_lstm.galen",
        "target": "label",
        "positive": "irregular",
        "scale": "standard",
        "shape": (60, 1),
        "split": {"val": 0.15, "test": 0.15},
        "layers": [("lstm", 16), ("dense", 1, "sigmoid")],
        "lr": 0.005,
        # The spec's `global_clipnorm`: every script clips the gradients to this global L2 norm before Adam.
        "global_clipnorm": 2.0,
        "batch": 32,
        "epochs": 25,
    },
}

# Adam as Keras sets it (galen's defaults too).
BETA1, BETA2, EPSILON = 0.9, 0.999, 1e-7


def process_seconds():
    """Seconds since this process started (the kernel's start time, so interpreter start-up counts)."""
    try:
        with open("/proc/self/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])
        return uptime - started
    except (OSError, ValueError, IndexError):
        return float("nan")


def peak_rss_mb():
    """The process's peak resident memory in MiB (VmHWM, as galen reads it)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def arguments(framework):
    """`SCRIPT MODEL DATA [--epochs N] [--threads N] [--seed S]`: the model's settings with the overrides."""
    import argparse

    parser = argparse.ArgumentParser(description=f"{framework} peer benchmark of a galen example")
    parser.add_argument("model", choices=sorted(MODELS))
    parser.add_argument("data", help="the CSV the galen spec reads (a .npz beside it is read instead when present)")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    settings = dict(MODELS[args.model])
    if args.epochs:
        settings["epochs"] = args.epochs
    return args, settings


def read_table(path, target):
    """The feature columns as float32 and the target column as strings; a `.npz` beside the CSV (x, y) wins."""
    cached = os.path.splitext(path)[0] + ".npz"
    if os.path.exists(cached):
        arrays = np.load(cached)
        return arrays["x"].astype(np.float32), arrays["y"].astype(str)
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    header, rows = rows[0], rows[1:]
    column = header.index(target)
    x = np.array([[float(v) for i, v in enumerate(row) if i != column] for row in rows], dtype=np.float32)
    y = np.array([row[column] for row in rows])
    return x, y


def classes_of(labels, positive):
    """Class indices in galen's order (labels sorted; numbers as numbers), and the class count."""
    try:
        names = sorted(set(labels), key=float)
    except ValueError:
        names = sorted(set(labels))
    index = {name: i for i, name in enumerate(names)}
    y = np.array([index[label] for label in labels], dtype=np.int64)
    if positive is not None:
        # A binary task: 1 for the positive class.
        y = (labels == positive).astype(np.int64)
    return y, len(names)


def split(y, fractions, seed):
    """Row indices of train, val and test: galen's sizes, class proportions kept (systematic draws per class)."""
    rng = np.random.default_rng(seed)
    n = len(y)
    # Rows ordered by class, randomly within a class; every k-th row of that order goes to a part, so each class
    # gives its share to within a row.
    order = np.lexsort((rng.random(n), y))
    parts = {}
    remaining = order
    for name in ("test", "val"):
        count = int(round(fractions[name] * n))
        if count == 0:
            parts[name] = np.array([], dtype=np.int64)
            continue
        m = len(remaining)
        chosen = np.zeros(m, dtype=bool)
        chosen[(np.arange(count) * m) // count] = True
        parts[name] = np.sort(remaining[chosen])
        remaining = remaining[~chosen]
    return np.sort(remaining), parts["val"], parts["test"]


def scale(x_train, others, how, image):
    """Fits the scaling on the training rows and applies it to every split."""
    if how == "none":
        return [x_train] + others
    axis = None if image else 0
    if how == "standard":
        offset, spread = x_train.mean(axis=axis), x_train.std(axis=axis)
    else:
        offset, spread = x_train.min(axis=axis), x_train.max(axis=axis) - x_train.min(axis=axis)
    spread = np.where(spread > 0, spread, 1.0)
    return [((part - offset) / spread).astype(np.float32) for part in [x_train] + others]


def load(settings, path, seed):
    """The model's data: (x_train, y_train), (x_val, y_val), (x_test, y_test), classes, in the model's shape."""
    x, labels = read_table(path, settings["target"])
    y, classes = classes_of(labels, settings["positive"])
    train, val, test = split(y, settings["split"], seed)
    shape = settings["shape"]
    image = shape is not None and len(shape) == 3
    x_train, x_val, x_test = scale(x[train], [x[val], x[test]], settings["scale"], image)
    if shape is not None:
        x_train, x_val, x_test = (part.reshape((-1,) + tuple(shape)) for part in (x_train, x_val, x_test))
    return (x_train, y[train]), (x_val, y[val]), (x_test, y[test]), classes


class EpochClock:
    """Per-epoch training seconds (validation timed apart), and the steady rate over epochs 2..N."""

    def __init__(self, rows):
        self.rows = rows
        self.train_seconds = []
        self.validation_seconds = []
        self._started = None

    def start(self):
        self._started = time.perf_counter()

    def trained(self):
        self.train_seconds.append(time.perf_counter() - self._started)
        self._started = time.perf_counter()

    def validated(self):
        self.validation_seconds.append(time.perf_counter() - self._started)

    def steady(self):
        steady = self.train_seconds[1:] or self.train_seconds
        return self.rows * len(steady) / sum(steady) if sum(steady) > 0 else float("nan")


def report(framework, version, model, settings, clock, evaluation_seconds, accuracy, extra=None):
    """Prints the one JSON line peers.sh reads."""
    record = {
        "framework": framework,
        "version": version,
        "model": model,
        "epochs": len(clock.train_seconds),
        "batch_size": settings["batch"],
        "train_rows": clock.rows,
        "epoch_seconds": [round(s, 6) for s in clock.train_seconds],
        "validation_seconds": [round(s, 6) for s in clock.validation_seconds],
        "first_epoch_seconds": clock.train_seconds[0] if clock.train_seconds else None,
        "steady_samples_per_second": clock.steady(),
        "evaluation_seconds": evaluation_seconds,
        "test_accuracy": accuracy,
        "process_seconds": process_seconds(),
        "peak_rss_mb": peak_rss_mb(),
    }
    record.update(extra or {})
    print(json.dumps(record), flush=True)


def glorot_limit(fan_in, fan_out):
    return float(np.sqrt(6.0 / (fan_in + fan_out)))


def log(message):
    print(message, file=sys.stderr, flush=True)
