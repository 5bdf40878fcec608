"""A galen example in JAX: the same layers, initialisation (glorot uniform, zero bias; orthogonal recurrent kernel and
unit forget bias for the LSTM), Adam as Keras writes it (lr, 0.9, 0.999, eps 1e-7) after the spec's gradient
clipping, batch size, shuffling each epoch and split sizes. The train step is one jax.jit function; epoch 1 pays for its compilation (and for the
last partial batch's), so the steady rate is over epochs 2..N.

Usage: python benches/peers/jax_bench.py MODEL DATA.csv [--epochs N] [--threads N] [--seed S]
Threads: run it under `taskset -c 0,1` (XLA's CPU client uses the cores it may run on).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

args, settings = common.arguments("jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

(x_train, y_train), (x_val, y_val), (x_test, y_test), classes = common.load(settings, args.data, args.seed)
layers = settings["layers"]
binary = layers[-1][-1] == "sigmoid"


def glorot(key, shape, fan_in, fan_out):
    limit = common.glorot_limit(fan_in, fan_out)
    return jax.random.uniform(key, shape, jnp.float32, -limit, limit)


def init(key):
    """Parameters layer by layer (None for layers without any), with the input shape carried through."""
    shape = x_train.shape[1:]
    params = []
    for layer in layers:
        key, k1, k2 = jax.random.split(key, 3)
        if layer[0] == "dense":
            fan_in = int(np.prod(shape))
            params.append({"w": glorot(k1, (fan_in, layer[1]), fan_in, layer[1]), "b": jnp.zeros(layer[1])})
            shape = (layer[1],)
        elif layer[0] == "conv2d":
            filters, size = layer[1], layer[2]
            fan_in, fan_out = size * size * shape[2], size * size * filters
            params.append({"w": glorot(k1, (size, size, shape[2], filters), fan_in, fan_out), "b": jnp.zeros(filters)})
            shape = (shape[0] - size + 1, shape[1] - size + 1, filters)
        elif layer[0] == "max_pool2d":
            params.append(None)
            shape = (shape[0] // layer[1], shape[1] // layer[1], shape[2])
        elif layer[0] == "flatten":
            params.append(None)
            shape = (int(np.prod(shape)),)
        elif layer[0] == "lstm":
            units, features = layer[1], shape[-1]
            recurrent = jax.nn.initializers.orthogonal()(k2, (units, 4 * units), jnp.float32)
            bias = jnp.zeros(4 * units).at[units : 2 * units].set(1.0)
            params.append({"w": glorot(k1, (features, 4 * units), features, 4 * units), "u": recurrent, "b": bias})
            shape = (units,)
    return params


def activation(name, x):
    return {"relu": jax.nn.relu, "softmax": lambda v: v, "sigmoid": lambda v: v, None: lambda v: v}[name](x)


def lstm(p, x):
    units = p["u"].shape[0]
    projected = jnp.einsum("btf,fg->tbg", x, p["w"]) + p["b"]

    def cell(carry, z):
        h, c = carry
        z = z + h @ p["u"]
        i, f, g, o = (z[:, k * units : (k + 1) * units] for k in range(4))
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h, c), None

    zeros = jnp.zeros((x.shape[0], units), x.dtype)
    (h, _), _ = jax.lax.scan(cell, (zeros, zeros), projected)
    return h


def logits(params, x):
    """The last layer's pre-activation (softmax and sigmoid are folded into the loss)."""
    for layer, p in zip(layers, params):
        if layer[0] == "dense":
            x = activation(layer[2], x @ p["w"] + p["b"])
        elif layer[0] == "conv2d":
            x = jax.lax.conv_general_dilated(x, p["w"], (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
            x = activation(layer[3], x + p["b"])
        elif layer[0] == "max_pool2d":
            size = layer[1]
            x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, size, size, 1), (1, size, size, 1), "VALID")
        elif layer[0] == "flatten":
            x = x.reshape(x.shape[0], -1)
        elif layer[0] == "lstm":
            x = lstm(p, x)
    return x


def loss_fn(params, x, y):
    z = logits(params, x)
    if binary:
        z = z[:, 0]
        return jnp.mean(jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z))))
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(z), y[:, None], axis=1))


def clip_by_global_norm(grads, clip_norm):
    """Keras' `clip_by_global_norm` (galen's `global_clipnorm`), as optax's `clip_by_global_norm` chained before Adam
    would do it; Keras' form is kept so that a NaN or infinite norm gives NaN, as in galen."""
    norm = jnp.sqrt(sum(jnp.sum(g * g) for g in jax.tree_util.tree_leaves(grads)))
    scale = clip_norm * jnp.minimum(1.0 / norm, 1.0 / clip_norm) + (norm - norm)
    return jax.tree_util.tree_map(lambda g: g * scale, grads)


@jax.jit
def train_step(params, m, v, t, x, y):
    loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
    if settings.get("global_clipnorm"):
        grads = clip_by_global_norm(grads, settings["global_clipnorm"])
    t = t + 1
    lr = settings["lr"] * jnp.sqrt(1 - common.BETA2**t) / (1 - common.BETA1**t)
    m = jax.tree_util.tree_map(lambda m, g: common.BETA1 * m + (1 - common.BETA1) * g, m, grads)
    v = jax.tree_util.tree_map(lambda v, g: common.BETA2 * v + (1 - common.BETA2) * g * g, v, grads)
    params = jax.tree_util.tree_map(lambda p, m, v: p - lr * m / (jnp.sqrt(v) + common.EPSILON), params, m, v)
    return params, m, v, t, loss * x.shape[0]


@jax.jit
def predict(params, x):
    return logits(params, x)


def accuracy(params, x, y):
    if len(y) == 0:
        return None
    batch = settings["batch"]
    outputs = np.concatenate([np.asarray(predict(params, x[i : i + batch])) for i in range(0, len(y), batch)])
    predicted = (outputs[:, 0] > 0).astype(np.int64) if binary else outputs.argmax(axis=1)
    return float((predicted == y).mean())


y_dtype = np.float32 if binary else np.int32
params = init(jax.random.PRNGKey(args.seed))
m = jax.tree_util.tree_map(jnp.zeros_like, params)
v = jax.tree_util.tree_map(jnp.zeros_like, params)
t = jnp.zeros((), jnp.float32)
rng = np.random.default_rng(args.seed)
clock = common.EpochClock(len(y_train))
batch = settings["batch"]
for epoch in range(settings["epochs"]):
    clock.start()
    order = rng.permutation(len(y_train))
    total = 0.0
    for start in range(0, len(order), batch):
        rows = order[start : start + batch]
        params, m, v, t, loss = train_step(params, m, v, t, x_train[rows], y_train[rows].astype(y_dtype))
        total = total + loss
    jax.block_until_ready(total)
    clock.trained()
    if len(y_val):
        accuracy(params, x_val, y_val)
    clock.validated()
    common.log(f"jax {args.model} epoch {epoch + 1}: {clock.train_seconds[-1]:.3f} s, loss {float(total) / len(order):.4f}")

started = time.perf_counter()
test_accuracy = accuracy(params, x_test, y_test)
evaluation = time.perf_counter() - started
common.report("jax", jax.__version__, args.model, settings, clock, evaluation, test_accuracy)
