r"""Learning-rate schedules: name -> lr(α, e, E, **settings), the rate of a 0-based epoch e of E.

A schedule's settings are its keyword-only parameters with their defaults: the config accepts exactly
those for that schedule (and no other), so the function signature is the one source of truth.
"""

from __future__ import annotations

import inspect
import math


def constant(lr, epoch, epochs):
    """α_e = α."""
    return lr


def step(lr, epoch, epochs, *, step_size=10, gamma=0.5):
    """α_e = α γ^floor(e / step_size)."""
    return lr * gamma ** (epoch // step_size)


def exponential(lr, epoch, epochs, *, gamma=0.5):
    """α_e = α γ^e."""
    return lr * gamma**epoch


def cosine(lr, epoch, epochs, *, min_lr=0.0):
    """α_e = α_min + (α − α_min)(1 + cos(π e / E)) / 2."""
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * epoch / epochs))


SCHEDULES = {f.__name__: f for f in [constant, step, exponential, cosine]}


def settings(name: str) -> dict[str, float]:
    """The settings a schedule takes, with their defaults."""
    parameters = inspect.signature(SCHEDULES[name]).parameters.values()
    return {p.name: p.default for p in parameters if p.kind is p.KEYWORD_ONLY}
