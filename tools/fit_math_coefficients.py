#!/usr/bin/env python3
"""Fits the polynomial coefficients of the JIT's inline f32 approximations (src/backend/codegen/math.rs).

Each approximation is `known part + basis * P(t)`, linear in P's coefficients, fitted by Lawson's algorithm
(iteratively reweighted least squares, which converges to the minimax fit) on a dense grid, with the residual
weighted so that what is minimised is the relative error of the function the kernel computes. Plain Python in
double precision: the coefficients only need f32 accuracy. Run it to reproduce the tables in math.rs.
"""

import math
import struct


def to_f32(value):
    return struct.unpack("f", struct.pack("f", value))[0]


def solve_least_squares(rows, targets, weights):
    """Weighted least squares by modified Gram-Schmidt QR; rows are basis values per point."""
    columns = len(rows[0])
    a = [[row[j] * w for j in range(columns)] for row, w in zip(rows, weights)]
    b = [t * w for t, w in zip(targets, weights)]
    q = [[a[i][j] for i in range(len(a))] for j in range(columns)]
    r = [[0.0] * columns for _ in range(columns)]
    for j in range(columns):
        for k in range(j):
            r[k][j] = sum(x * y for x, y in zip(q[k], q[j]))
            q[j] = [x - r[k][j] * y for x, y in zip(q[j], q[k])]
        r[j][j] = math.sqrt(sum(x * x for x in q[j]))
        q[j] = [x / r[j][j] for x in q[j]]
    qtb = [sum(x * y for x, y in zip(q[j], b)) for j in range(columns)]
    solution = [0.0] * columns
    for j in reversed(range(columns)):
        solution[j] = (qtb[j] - sum(r[j][k] * solution[k] for k in range(j + 1, columns))) / r[j][j]
    return solution


def fit(name, points, variable, basis, target, scale, degree, iterations=300):
    """Minimises max |basis(x) * P(variable(x)) - target(x)| / scale(x) over P of the given degree."""
    t = [variable(x) for x in points]
    span = max(abs(v) for v in t) or 1.0
    rows = [[basis(x) * (v / span) ** k for k in range(degree + 1)] for x, v in zip(points, t)]
    targets = [target(x) for x in points]
    base = [1.0 / scale(x) for x in points]
    lawson = [1.0 / len(points)] * len(points)
    for _ in range(iterations):
        weights = [math.sqrt(w) * s for w, s in zip(lawson, base)]
        coefficients = solve_least_squares(rows, targets, weights)
        errors = [abs(sum(c * v for c, v in zip(coefficients, row)) - y) * s for row, y, s in zip(rows, targets, base)]
        lawson = [w * e for w, e in zip(lawson, errors)]
        total = sum(lawson)
        lawson = [w / total for w in lawson]
    coefficients = [to_f32(c / span**k) for k, c in enumerate(coefficients)]
    worst = max(
        abs(basis(x) * sum(c * v**k for k, c in enumerate(coefficients)) - y) * s
        for x, v, y, s in zip(points, t, targets, base)
    )
    print(f"{name}: degree {degree}, max weighted error {worst:.3e}")
    for k, c in enumerate(coefficients):
        print(f"    {c!r:>26},  // t^{k}")
    return coefficients


def grid(low, high, count=3000):
    """Chebyshev points on [low, high], where minimax errors equioscillate densely near the ends."""
    return [
        (low + high) / 2 + (high - low) / 2 * math.cos(math.pi * (i + 0.5) / count) for i in range(count)
    ]


def main():
    half_ln2 = math.log(2) / 2
    # e^r = 1 + r + r^2 P(r) on the reduced range.
    fit(
        "exp",
        grid(-half_ln2, half_ln2),
        lambda r: r,
        lambda r: r * r,
        lambda r: math.expm1(r) - r,
        lambda r: math.exp(r),
        4,
    )
    # ln(1 + f) = f - f^2/2 + f^3 P(f), mantissa m = 1 + f in [sqrt(1/2), sqrt(2)).
    low, high = math.sqrt(0.5) - 1, math.sqrt(2) - 1
    fit(
        "log",
        [x for x in grid(low, high) if abs(x) > 1e-6],
        lambda f: f,
        lambda f: f**3,
        lambda f: math.log1p(f) - f + f * f / 2,
        lambda f: abs(math.log1p(f)),
        6,
    )
    # tanh x = x + x^3 P(x^2) below the switch to the exponential form.
    fit(
        "tanh",
        [x for x in grid(0, 0.625) if x > 1e-6],
        lambda x: x * x,
        lambda x: x**3,
        lambda x: math.tanh(x) - x,
        lambda x: math.tanh(x),
        4,
    )
    # erf x = x + x P(x^2) near zero.
    fit(
        "erf_small",
        [x for x in grid(0, 0.921875) if x > 1e-6],
        lambda x: x * x,
        lambda x: x,
        lambda x: math.erf(x) - x,
        lambda x: math.erf(x),
        5,
    )
    # erf x = 1 - e^-R(x) further out, R(x) = -ln erfc(x); R's error scaled by erfc / erf is erf's relative error.
    fit(
        "erf_large",
        grid(0.921875, 4.0),
        lambda x: x,
        lambda x: 1.0,
        lambda x: -math.log(math.erfc(x)),
        lambda x: math.erf(x) / math.erfc(x),
        7,
    )


if __name__ == "__main__":
    main()
