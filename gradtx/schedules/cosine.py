"""Cosine decay (Loshchilov & Hutter, SGDR, 2017; Optax's `exponent` extension)."""

from __future__ import annotations

import math
from typing import Any

import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.schedules.base import Schedule, as_float

__all__ = ["cosine_decay_schedule"]


class CosineDecay(Schedule):
  """`s = min(t, steps); value = init * ((1 - alpha) * (0.5 (1 + cos(pi s/steps)))^exponent + alpha)`."""

  init_value: Any
  decay_steps: Any
  alpha: Any = 0.0
  exponent: Any = 1.0

  def __post_init__(self):
    _checks.positive("cosine_decay_schedule", "decay_steps", self.decay_steps)

  def __call__(self, count):
    steps = as_float(self.decay_steps)
    s = jnp.minimum(as_float(count), steps)
    cosine = 0.5 * (1.0 + jnp.cos(math.pi * s / steps))
    alpha = as_float(self.alpha)
    return as_float(self.init_value) * ((1.0 - alpha) * cosine ** as_float(self.exponent) + alpha)


def cosine_decay_schedule(
  init_value: Any, decay_steps: Any, alpha: Any = 0.0, exponent: Any = 1.0
) -> CosineDecay:
  r"""Cosine decay (Loshchilov & Hutter, 2017) from `init_value` to
  `alpha * init_value` over `decay_steps` (> 0, as in Optax), then constant.

  $$
  s = \min(n, T), \qquad
  \eta(n) = \eta_0 \left( (1 - \alpha) \left[ \tfrac12 \big(1 + \cos(\pi s / T)\big)
    \right]^{e} + \alpha \right),
  $$

  with $n$ the step count (0 on the first update), $T$ = `decay_steps` and $e$ =
  `exponent` (Optax's extension).

  Defaults: `alpha=0`, `exponent=1` (Optax's `cosine_decay_schedule`).

  Args:
    init_value: $\eta_0$.
    decay_steps: $T > 0$.
    alpha: $\alpha$, the final value as a fraction of $\eta_0$.
    exponent: $e$.
  """
  return CosineDecay(init_value, decay_steps, alpha, exponent)
