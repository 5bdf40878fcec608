"""A galen example in PyTorch (eager): the same layers with Keras' initialisation (glorot uniform kernels, zero biases;
orthogonal recurrent kernel and unit forget bias for the LSTM), Adam(lr, 0.9, 0.999, eps 1e-7) after the spec's
gradient clipping, batch size, shuffling each epoch and split sizes. Eager mode compiles nothing, so epoch 1 differs from the others only by
warm-up.

Usage: python3 benches/peers/torch_bench.py MODEL DATA.csv [--epochs N] [--threads N] [--seed S]
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

args, settings = common.arguments("torch")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)
(x_train, y_train), (x_val, y_val), (x_test, y_test), classes = common.load(settings, args.data, args.seed)
binary = settings["layers"][-1][-1] == "sigmoid"


class LastStep(nn.Module):
    """An LSTM returning the last step's hidden state, initialised as Keras initialises its LSTM."""

    def __init__(self, features, units):
        super().__init__()
        self.lstm = nn.LSTM(features, units, batch_first=True)
        nn.init.xavier_uniform_(self.lstm.weight_ih_l0)
        nn.init.orthogonal_(self.lstm.weight_hh_l0)
        nn.init.zeros_(self.lstm.bias_hh_l0)
        with torch.no_grad():
            self.lstm.bias_ih_l0.zero_()
            self.lstm.bias_ih_l0[units : 2 * units] = 1.0

    def forward(self, x):
        return self.lstm(x)[0][:, -1, :]


def build():
    """The layers as nn modules; images arrive NHWC and are turned NCHW first."""
    modules = []
    shape = x_train.shape[1:]
    if len(shape) == 3:
        modules.append(Permute())
    for layer in settings["layers"]:
        if layer[0] == "dense":
            linear = nn.Linear(int(np.prod(shape)), layer[1])
            modules.append(linear)
            if layer[2] == "relu":
                modules.append(nn.ReLU())
            shape = (layer[1],)
        elif layer[0] == "conv2d":
            conv = nn.Conv2d(shape[2], layer[1], layer[2])
            modules += [conv, nn.ReLU()]
            shape = (shape[0] - layer[2] + 1, shape[1] - layer[2] + 1, layer[1])
        elif layer[0] == "max_pool2d":
            modules.append(nn.MaxPool2d(layer[1]))
            shape = (shape[0] // layer[1], shape[1] // layer[1], shape[2])
        elif layer[0] == "flatten":
            modules.append(nn.Flatten())
            shape = (int(np.prod(shape)),)
        elif layer[0] == "lstm":
            modules.append(LastStep(shape[-1], layer[1]))
            shape = (layer[1],)
    model = nn.Sequential(*modules)
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    return model


class Permute(nn.Module):
    def forward(self, x):
        return x.permute(0, 3, 1, 2)


model = build()
optimizer = torch.optim.Adam(model.parameters(), lr=settings["lr"], betas=(common.BETA1, common.BETA2), eps=common.EPSILON)
loss_fn = nn.BCEWithLogitsLoss() if binary else nn.CrossEntropyLoss()
x_train_t, y_train_t = torch.from_numpy(x_train), torch.from_numpy(y_train.astype(np.float32 if binary else np.int64))


def accuracy(x, y):
    if len(y) == 0:
        return None
    model.eval()
    with torch.no_grad():
        batch = settings["batch"]
        outputs = torch.cat([model(torch.from_numpy(x[i : i + batch])) for i in range(0, len(y), batch)]).numpy()
    model.train()
    predicted = (outputs[:, 0] > 0).astype(np.int64) if binary else outputs.argmax(axis=1)
    return float((predicted == y).mean())


clock = common.EpochClock(len(y_train))
batch = settings["batch"]
for epoch in range(settings["epochs"]):
    clock.start()
    order = torch.randperm(len(y_train))
    total = 0.0
    for start in range(0, len(order), batch):
        rows = order[start : start + batch]
        x, y = x_train_t[rows], y_train_t[rows]
        optimizer.zero_grad()
        output = model(x)
        loss = loss_fn(output[:, 0], y) if binary else loss_fn(output, y)
        loss.backward()
        if settings.get("global_clipnorm"):
            # The spec's `global_clipnorm`. torch scales by min(1, limit / (norm + 1e-6)) where Keras and galen scale
            # by min(1, limit / norm): the same to a relative 1e-6 / norm.
            nn.utils.clip_grad_norm_(model.parameters(), settings["global_clipnorm"])
        optimizer.step()
        total += loss.item() * len(rows)
    clock.trained()
    if len(y_val):
        accuracy(x_val, y_val)
    clock.validated()
    common.log(f"torch {args.model} epoch {epoch + 1}: {clock.train_seconds[-1]:.3f} s, loss {total / len(order):.4f}")

started = time.perf_counter()
test_accuracy = accuracy(x_test, y_test)
evaluation = time.perf_counter() - started
common.report("torch", torch.__version__, args.model, settings, clock, evaluation, test_accuracy)
