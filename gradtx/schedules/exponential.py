"""Exponential, inverse-time and inverse-square-root decay."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.schedules.base import Schedule, as_float, holds, not_nan, warn_argument
from gradtx.schedules.polynomial import warn_steps_and_begin

__all__ = ["exponential_decay", "inverse_time_decay", "inverse_sqrt_decay"]


class ExponentialDecay(Schedule):
  """`t' = t - max(begin, 0)`, `p = t' / steps` (floored if staircase);
  `value = init * rate^p` for t' > 0 (else init), bounded by `end_value`
  (below if `rate < 1`, above otherwise); the constant `init` if `steps <= 0`
  or `rate == 0` (Optax's rule)."""

  init_value: Any
  transition_steps: Any
  decay_rate: Any
  transition_begin: Any = 0
  staircase: bool = static(default=False)
  end_value: Any = None

  def __post_init__(self):
    not_nan("exponential_decay", "transition_steps", self.transition_steps)
    _checks.non_negative("exponential_decay", "decay_rate", self.decay_rate)
    not_nan("exponential_decay", "transition_begin", self.transition_begin)

  def __call__(self, count):
    steps, rate, init = (
      as_float(self.transition_steps),
      as_float(self.decay_rate),
      as_float(self.init_value),
    )
    t = as_float(count) - jnp.maximum(as_float(self.transition_begin), 0.0)
    p = t / jnp.where(steps > 0, steps, 1.0)
    if self.staircase:
      p = jnp.floor(p)
    value = jnp.where(t <= 0, init, init * rate**p)
    if self.end_value is not None:
      end = as_float(self.end_value)
      value = jnp.where(rate < 1, jnp.maximum(value, end), jnp.minimum(value, end))
    return jnp.where((steps > 0) & (rate != 0), value, jnp.broadcast_to(init, jnp.shape(value)))


class InverseTimeDecay(Schedule):
  """`value = init / (1 + rate * t / steps)` (t / steps floored if staircase)."""

  init_value: Any
  decay_rate: Any
  decay_steps: Any = 1
  staircase: bool = static(default=False)

  def __post_init__(self):
    _checks.non_negative("inverse_time_decay", "decay_rate", self.decay_rate)
    _checks.positive("inverse_time_decay", "decay_steps", self.decay_steps)

  def __call__(self, count):
    p = as_float(count) / as_float(self.decay_steps)
    if self.staircase:
      p = jnp.floor(p)
    return as_float(self.init_value) / (1.0 + as_float(self.decay_rate) * p)


class InverseSqrtDecay(Schedule):
  """`value = init * k / sqrt(t + offset)` (offset 1: the first step uses t = 1)."""

  init_value: Any
  k: Any = 1.0
  offset: Any = 1

  def __post_init__(self):
    _checks.positive("inverse_sqrt_decay", "offset", self.offset)

  def __call__(self, count):
    return (
      as_float(self.init_value)
      * as_float(self.k)
      / jnp.sqrt(as_float(count) + as_float(self.offset))
    )


def exponential_decay(
  init_value: Any,
  transition_steps: Any,
  decay_rate: Any,
  transition_begin: Any = 0,
  staircase: bool = False,
  end_value: Any = None,
) -> ExponentialDecay:
  r"""Exponential decay (Optax's rule).

  With $n$ the step count (0 on the first update), $T$ = `transition_steps`,
  $b$ = `transition_begin` and $\gamma$ = `decay_rate`:

  $$
  p = \frac{n - b}{T} \quad (\lfloor p \rfloor \text{ if staircase}), \qquad
  \eta(n) = \begin{cases} \eta_0 & n \le b, \\ \eta_0\, \gamma^{p} & n > b, \end{cases}
  $$

  bounded by `end_value` when given (from below if $\gamma < 1$, from above otherwise).
  The sources' $\eta = 0.95^{\text{epoch}} \eta_0$ is `exponential_decay(lr0, 1, 0.95)`
  of the epoch (see `epoch_schedule`). As in Optax, `transition_steps <= 0` or
  `decay_rate == 0` give the constant `init_value`, and a negative `transition_begin`
  counts as 0 (each warns once per call site); a negative `decay_rate` is refused.

  Defaults: `transition_begin=0`, `staircase=False`, `end_value=None` (Optax's
  `exponential_decay`).

  Args:
    init_value: $\eta_0$.
    transition_steps: $T$.
    decay_rate: $\gamma$.
    transition_begin: $b$.
    staircase: floor the exponent (drops every $T$ steps).
    end_value: the bound of the value, or `None`.
  """
  warn_steps_and_begin("exponential_decay", transition_steps, transition_begin)
  if holds(decay_rate, lambda v: v == 0) and not holds(transition_steps, lambda v: v <= 0):
    warn_argument(
      "exponential_decay",
      "decay_rate == 0 gives a constant schedule with value init_value (as in Optax).",
    )
  return ExponentialDecay(
    init_value, transition_steps, decay_rate, transition_begin, staircase, end_value
  )


def inverse_time_decay(
  init_value: Any, decay_rate: Any, decay_steps: Any = 1, staircase: bool = False
) -> InverseTimeDecay:
  r"""Inverse-time decay.

  $$
  \eta(n) = \frac{\eta_0}{1 + \gamma\, n / T} \quad
  (n / T \text{ floored if staircase}),
  $$

  with $n$ the step count (0 on the first update), $\gamma$ = `decay_rate` and
  $T$ = `decay_steps`. With $\eta_0 = 0.2$ and $\gamma = 1$, $n = 1, 2, 3, 4$ gives
  0.1, 0.0667, 0.05, 0.04.

  Defaults: `decay_steps=1` (the reference texts' $\eta_0 / (1 + \gamma\, \text{epoch})$,
  one decay per count), `staircase=False` (as Keras's `InverseTimeDecay`; Optax has no
  such schedule).

  Args:
    init_value: $\eta_0$.
    decay_rate: $\gamma$.
    decay_steps: $T$.
    staircase: floor $n / T$.
  """
  return InverseTimeDecay(init_value, decay_rate, decay_steps, staircase)


def inverse_sqrt_decay(init_value: Any, k: Any = 1.0, offset: Any = 1) -> InverseSqrtDecay:
  r"""Inverse-square-root decay: the sources' $\eta_0\, k / \sqrt{t}$ with 1-based $t$.

  $$
  \eta(n) = \frac{\eta_0\, k}{\sqrt{n + o}},
  $$

  with $n$ the step count (0 on the first update) and $o$ = `offset` (1: the first step
  uses $t = 1$).

  Defaults: `k=1`, `offset=1` (the reference texts' $k / \sqrt{t}\, \eta_0$ with $t$ counted
  from 1, so $\eta(0) = \eta_0$; Optax has no such schedule).

  Args:
    init_value: $\eta_0$.
    k: $k$.
    offset: $o$.
  """
  return InverseSqrtDecay(init_value, k, offset)
