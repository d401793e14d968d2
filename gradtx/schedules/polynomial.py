"""Constant, linear and polynomial schedules (Optax's rules and defaults)."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from gradtx.schedules.base import Schedule, as_float, holds, not_nan, warn_argument

__all__ = ["constant_schedule", "linear_schedule", "polynomial_schedule"]


def warn_steps_and_begin(owner: str, steps: Any, begin: Any) -> None:
  """Optax's handling of `transition_steps <= 0` (a constant schedule) and of a
  negative `transition_begin` (treated as 0), as one warning per call site and kind
  (the message does not depend on the value, so Python's filter shows it once)."""
  if holds(steps, lambda v: v <= 0):
    warn_argument(
      owner, "transition_steps <= 0 gives a constant schedule with value init_value (as in Optax)."
    )
  if holds(begin, lambda v: v < 0):
    warn_argument(owner, "transition_begin < 0 is treated as 0 (as in Optax).")


class Constant(Schedule):
  """`value(t) = value`."""

  value: Any

  def __call__(self, count):
    return jnp.broadcast_to(as_float(self.value), jnp.shape(count))


class Polynomial(Schedule):
  """`s = clip(t - max(begin, 0), 0, steps)`;
  `value = (init - end) (1 - s/steps)^power + end`, or `init` if `steps <= 0`."""

  init_value: Any
  end_value: Any
  power: Any
  transition_steps: Any
  transition_begin: Any = 0

  def __post_init__(self):
    not_nan("polynomial_schedule", "transition_steps", self.transition_steps)
    not_nan("polynomial_schedule", "transition_begin", self.transition_begin)

  def __call__(self, count):
    steps, init = as_float(self.transition_steps), as_float(self.init_value)
    begin = jnp.maximum(as_float(self.transition_begin), 0.0)
    safe_steps = jnp.where(steps > 0, steps, 1.0)
    s = jnp.clip(as_float(count) - begin, 0.0, safe_steps)
    frac = jnp.maximum(1.0 - s / safe_steps, 0.0)  # s / steps may round above 1: 0 ** power
    value = (init - as_float(self.end_value)) * frac ** as_float(self.power) + as_float(
      self.end_value
    )
    return jnp.where(steps > 0, value, jnp.broadcast_to(init, jnp.shape(value)))


def constant_schedule(value: Any) -> Constant:
  r"""A constant schedule: $\eta(n) = v$ for every step count $n$, $v$ = `value`.

  Defaults: none (`value` is required).
  """
  return Constant(value)


def linear_schedule(
  init_value: Any, end_value: Any, transition_steps: Any, transition_begin: Any = 0
) -> Polynomial:
  r"""Linear interpolation from `init_value` to `end_value` over `transition_steps`
  steps from `transition_begin` on: `polynomial_schedule` with `power = 1`.

  With $n$ the step count (0 on the first update), $T$ = `transition_steps` and
  $b$ = `transition_begin`:

  $$
  s = \operatorname{clip}(n - b, 0, T), \qquad
  \eta(n) = \eta_0 + (\eta_{\mathrm{end}} - \eta_0) \frac{s}{T}.
  $$

  `transition_steps <= 0` gives the constant `init_value` and a negative
  `transition_begin` counts as 0 (as in Optax; each warns once per call site).

  Defaults: `transition_begin=0` (Optax's `linear_schedule`).

  Args:
    init_value: $\eta_0$.
    end_value: $\eta_{\mathrm{end}}$.
    transition_steps: $T$.
    transition_begin: $b$.
  """
  warn_steps_and_begin("linear_schedule", transition_steps, transition_begin)
  return Polynomial(init_value, end_value, 1.0, transition_steps, transition_begin)


def polynomial_schedule(
  init_value: Any, end_value: Any, power: Any, transition_steps: Any, transition_begin: Any = 0
) -> Polynomial:
  r"""Polynomial decay from `init_value` to `end_value` (Optax's rule).

  With $n$ the step count (0 on the first update), $T$ = `transition_steps`,
  $b$ = `transition_begin` and $p$ = `power`:

  $$
  s = \operatorname{clip}(n - b, 0, T), \qquad
  \eta(n) = (\eta_0 - \eta_{\mathrm{end}}) \Big(1 - \frac{s}{T}\Big)^{p} + \eta_{\mathrm{end}}.
  $$

  `transition_steps <= 0` gives the constant `init_value` and a negative
  `transition_begin` counts as 0 (as in Optax; each warns once per call site).

  Defaults: `transition_begin=0` (Optax's `polynomial_schedule`).

  Args:
    init_value: $\eta_0$.
    end_value: $\eta_{\mathrm{end}}$.
    power: $p$.
    transition_steps: $T$.
    transition_begin: $b$.
  """
  warn_steps_and_begin("polynomial_schedule", transition_steps, transition_begin)
  return Polynomial(init_value, end_value, power, transition_steps, transition_begin)
