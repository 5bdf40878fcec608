"""A galen example in Keras (TensorFlow backend): the same layers with Keras' default initialisers (which galen copies),
Adam(lr, 0.9, 0.999, eps 1e-7) with the spec's gradient clipping, batch size, shuffling each epoch and split sizes; `model.fit` as a Keras user
writes it. Epoch 1 pays for tracing the train function, so the steady rate is over epochs 2..N.

Usage: python benches/peers/keras_bench.py MODEL DATA.csv [--epochs N] [--threads N] [--seed S]
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

args, settings = common.arguments("keras")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(args.threads)
tf.config.threading.set_inter_op_parallelism_threads(args.threads)
keras.utils.set_random_seed(args.seed)

(x_train, y_train), (x_val, y_val), (x_test, y_test), classes = common.load(settings, args.data, args.seed)
layers = [keras.layers.Input(x_train.shape[1:])]
for layer in settings["layers"]:
    if layer[0] == "dense":
        layers.append(keras.layers.Dense(layer[1], activation=layer[2]))
    elif layer[0] == "conv2d":
        layers.append(keras.layers.Conv2D(layer[1], layer[2], activation=layer[3]))
    elif layer[0] == "max_pool2d":
        layers.append(keras.layers.MaxPooling2D(layer[1]))
    elif layer[0] == "flatten":
        layers.append(keras.layers.Flatten())
    elif layer[0] == "lstm":
        layers.append(keras.layers.LSTM(layer[1]))
model = keras.Sequential(layers)
binary = settings["layers"][-1][-1] == "sigmoid"
model.compile(
    optimizer=keras.optimizers.Adam(
        settings["lr"],
        beta_1=common.BETA1,
        beta_2=common.BETA2,
        epsilon=common.EPSILON,
        global_clipnorm=settings.get("global_clipnorm"),
    ),
    loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy",
    metrics=["accuracy"],
)


class Clock(keras.callbacks.Callback):
    """Times each epoch's training batches apart from its validation."""

    def __init__(self, clock):
        super().__init__()
        self.clock = clock
        self.validating = False

    def on_epoch_begin(self, epoch, logs=None):
        self.clock.start()
        self.validating = False

    def on_test_begin(self, logs=None):
        self.clock.trained()
        self.validating = True

    def on_epoch_end(self, epoch, logs=None):
        if not self.validating:
            self.clock.trained()
        self.clock.validated()
        common.log(f"keras {args.model} epoch {epoch + 1}: {self.clock.train_seconds[-1]:.3f} s")


clock = common.EpochClock(len(y_train))
validation = (x_val, y_val.astype(np.float32) if binary else y_val) if len(y_val) else None
target = y_train.astype(np.float32) if binary else y_train
model.fit(
    x_train,
    target,
    batch_size=settings["batch"],
    epochs=settings["epochs"],
    shuffle=True,
    validation_data=validation,
    verbose=0,
    callbacks=[Clock(clock)],
)
started = time.perf_counter()
outputs = model.predict(x_test, batch_size=settings["batch"], verbose=0)
evaluation = time.perf_counter() - started
predicted = (outputs[:, 0] > 0.5).astype(np.int64) if binary else outputs.argmax(axis=1)
test_accuracy = float((predicted == y_test).mean()) if len(y_test) else None
version = f"tensorflow {tf.__version__}, keras {keras.__version__}"
common.report("keras", version, args.model, settings, clock, evaluation, test_accuracy)
