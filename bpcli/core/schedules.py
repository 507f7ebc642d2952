r"""Learning-rate schedules: name -> lr(epoch), the rate of a 0-based epoch e of E.

Each takes the base rate α and the schedule's settings; `learning_rate` in the training loop calls it
once per epoch.
"""

from __future__ import annotations

import math


def constant(lr, epoch, epochs, step_size, gamma, min_lr):
    """α_e = α."""
    return lr


def step(lr, epoch, epochs, step_size, gamma, min_lr):
    """α_e = α γ^floor(e / step_size)."""
    return lr * gamma ** (epoch // step_size)


def exponential(lr, epoch, epochs, step_size, gamma, min_lr):
    """α_e = α γ^e."""
    return lr * gamma**epoch


def cosine(lr, epoch, epochs, step_size, gamma, min_lr):
    """α_e = α_min + (α − α_min)(1 + cos(π e / E)) / 2."""
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * epoch / epochs))


SCHEDULES = {f.__name__: f for f in [constant, step, exponential, cosine]}
