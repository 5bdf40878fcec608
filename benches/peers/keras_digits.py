"""The digits CNN of specs/digits_cnn.galen in Keras, over seeds 1-5, for a side-by-side accuracy check.

80/20 stratified split, pixels min-max scaled on the training rows (0..16 -> 0..1, pooled as galen scales images),
conv2d 16 3x3 relu, max_pool2d 2, flatten, dense 10 softmax, adam 0.001, batch 32, 20 epochs.
Usage (TensorFlow and scikit-learn in a virtualenv, not galen dependencies):
    python benches/peers/keras_digits.py specs/data/digits.csv            # scikit-learn's stratified splits
    python benches/peers/keras_digits.py specs/data/digits.csv RUNS/digits  # galen's splits: the test rows of
        # the run directories RUNS/digits-1 .. RUNS/digits-5 (`galen train specs/digits_cnn.galen --seed S
        # --out RUNS/digits-S`), read from their test_predictions.csv
"""
import csv
import statistics
import sys

import numpy as np
from sklearn.model_selection import train_test_split
import tensorflow as tf

with open(sys.argv[1]) as handle:
    rows = list(csv.reader(handle))
header, rows = rows[0], rows[1:]
label = header.index("label")
x = np.array([[float(v) for i, v in enumerate(row) if i != label] for row in rows], dtype=np.float32)
y = np.array([int(float(row[label])) for row in rows])

accuracies = []
for seed in range(1, 6):
    tf.keras.utils.set_random_seed(seed)
    if len(sys.argv) > 2:
        with open(f"{sys.argv[2]}-{seed}/test_predictions.csv") as handle:
            test_rows = [int(row[0]) - 1 for row in list(csv.reader(handle))[1:]]
        is_test = np.zeros(len(y), dtype=bool)
        is_test[test_rows] = True
        x_train, x_test, y_train, y_test = x[~is_test], x[is_test], y[~is_test], y[is_test]
    else:
        x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, stratify=y, random_state=seed)
    low, high = x_train.min(), x_train.max()
    scale = lambda a: ((a - low) / (high - low)).reshape(-1, 8, 8, 1)
    model = tf.keras.Sequential([
        tf.keras.layers.Input((8, 8, 1)),
        tf.keras.layers.Conv2D(16, 3, activation="relu"),
        tf.keras.layers.MaxPooling2D(2),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=tf.keras.optimizers.Adam(0.001), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(scale(x_train), y_train, batch_size=32, epochs=20, verbose=0)
    _, accuracy = model.evaluate(scale(x_test), y_test, verbose=0)
    accuracies.append(accuracy)
    print(f"seed {seed}: test accuracy {accuracy:.4f}", flush=True)
print(f"keras digits CNN (seeds 1-5): accuracy {statistics.mean(accuracies):.4f} ± {statistics.stdev(accuracies):.4f}")
