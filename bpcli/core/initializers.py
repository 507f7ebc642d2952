r"""Weight initialisers: name -> init(rng, fan_in, fan_out, std) returning a float64 (fan_in, fan_out) array.

Biases always start at zero. Weights are drawn in float64 from the run's seeded generator and then
cast, so one seed gives the same starting point in float32 and float64.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Initializer = Callable[[np.random.Generator, int, int, float], np.ndarray]


def he_normal(rng, fan_in, fan_out, std):
    r"""W ~ N(0, 2/fan_in): keeps the variance of ReLU activations constant across layers."""
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), (fan_in, fan_out))


def he_uniform(rng, fan_in, fan_out, std):
    r"""W ~ U(-a, a), a = sqrt(6/fan_in)."""
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, (fan_in, fan_out))


def xavier_normal(rng, fan_in, fan_out, std):
    r"""W ~ N(0, 2/(fan_in + fan_out)) (Glorot): suits tanh and sigmoid."""
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), (fan_in, fan_out))


def xavier_uniform(rng, fan_in, fan_out, std):
    r"""W ~ U(-a, a), a = sqrt(6/(fan_in + fan_out)) (Glorot)."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_in, fan_out))


def lecun_normal(rng, fan_in, fan_out, std):
    r"""W ~ N(0, 1/fan_in)."""
    return rng.normal(0.0, np.sqrt(1.0 / fan_in), (fan_in, fan_out))


def normal(rng, fan_in, fan_out, std):
    r"""W ~ N(0, std²), std from model.init_std."""
    return rng.normal(0.0, std, (fan_in, fan_out))


INITIALIZERS: dict[str, Initializer] = {
    f.__name__: f
    for f in [he_normal, he_uniform, xavier_normal, xavier_uniform, lecun_normal, normal]
}
