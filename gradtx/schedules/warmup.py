"""Linear warm-up followed by a constant, a cosine decay or an exponential decay
(Optax's `warmup_*` schedules; `decay_steps` counts the warm-up)."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.schedules.cosine import CosineDecay
from gradtx.schedules.exponential import ExponentialDecay, exponential_decay
from gradtx.schedules.piecewise import Join
from gradtx.schedules.polynomial import Polynomial, linear_schedule

__all__ = [
  "warmup_constant_schedule",
  "warmup_cosine_decay_schedule",
  "warmup_exponential_decay_schedule",
]


def warmup_constant_schedule(init_value: Any, peak_value: Any, warmup_steps: Any) -> Polynomial:
  r"""Linear warm-up from `init_value` to `peak_value` over `warmup_steps`, then
  `peak_value`: `linear_schedule(init_value, peak_value, warmup_steps)` (Optax).

  $$
  \eta(n) = \eta_0 + (\eta_{\mathrm{peak}} - \eta_0) \frac{\min(n, W)}{W},
  $$

  with $W$ = `warmup_steps` and $n$ the step count (0 on the first update).

  Defaults: none (every argument is required; Optax's `warmup_constant_schedule`).
  """
  _checks.check(
    "warmup_constant_schedule", "warmup_steps", warmup_steps, lambda v: v == v, "a number, not NaN"
  )
  return linear_schedule(init_value, peak_value, warmup_steps)


def warmup_cosine_decay_schedule(
  init_value: Any,
  peak_value: Any,
  warmup_steps: Any,
  decay_steps: Any,
  end_value: Any = 0.0,
  exponent: Any = 1.0,
) -> Join:
  r"""Linear warm-up from `init_value` to `peak_value`, then cosine decay to
  `end_value`; `decay_steps` includes the warm-up (Optax's convention).

  With $n$ the step count (0 on the first update), $W$ = `warmup_steps`, $D$ =
  `decay_steps` and $e$ = `exponent`:

  $$
  \eta(n) = \begin{cases}
    \eta_0 + (\eta_{\mathrm{peak}} - \eta_0)\, n / W & n < W, \\
    \eta_{\mathrm{end}} + (\eta_{\mathrm{peak}} - \eta_{\mathrm{end}})
      \left[ \tfrac12 \Big(1 + \cos \frac{\pi \min(n - W, D - W)}{D - W}\Big) \right]^{e}
      & n \ge W.
  \end{cases}
  $$

  Defaults: `end_value=0`, `exponent=1` (Optax's `warmup_cosine_decay_schedule`).

  Args:
    init_value: $\eta_0$.
    peak_value: $\eta_{\mathrm{peak}}$.
    warmup_steps: $W$.
    decay_steps: $D > W$, the warm-up included.
    end_value: $\eta_{\mathrm{end}}$.
    exponent: $e$.
  """
  _checks.non_negative("warmup_cosine_decay_schedule", "warmup_steps", warmup_steps)
  _checks.greater(
    "warmup_cosine_decay_schedule", "decay_steps", decay_steps, "warmup_steps", warmup_steps
  )
  return Join(
    (
      _warmup(init_value, peak_value, warmup_steps),
      CosineDecay(peak_value, decay_steps - warmup_steps, _ratio(end_value, peak_value), exponent),
    ),
    (warmup_steps,),
  )


def _warmup(init_value: Any, peak_value: Any, warmup_steps: Any) -> Polynomial:
  """The linear warm-up stage; no warning for `warmup_steps = 0` (the next stage
  starts at step 0 then, so the warm-up is never used)."""
  return Polynomial(init_value, peak_value, 1.0, warmup_steps)


def _ratio(end: Any, peak: Any) -> Any:
  """`end / peak`, and 0 when `peak` is 0 (the whole cosine part is then 0; as Optax)."""
  if isinstance(end, (int, float)) and isinstance(peak, (int, float)):
    return 0.0 if peak == 0 else end / peak
  peak = jnp.asarray(peak)
  return jnp.where(peak == 0, 0.0, end / jnp.where(peak == 0, 1.0, peak))


def warmup_exponential_decay_schedule(
  init_value: Any,
  peak_value: Any,
  warmup_steps: Any,
  transition_steps: Any,
  decay_rate: Any,
  transition_begin: Any = 0,
  staircase: bool = False,
  end_value: Any = None,
) -> Join:
  r"""Linear warm-up from `init_value` to `peak_value` over `warmup_steps`, then
  `exponential_decay(peak_value, transition_steps, decay_rate, transition_begin,
  staircase, end_value)` of the steps after the warm-up (Optax).

  $$
  \eta(n) = \begin{cases}
    \eta_0 + (\eta_{\mathrm{peak}} - \eta_0)\, n / W & n < W, \\
    \eta_{\mathrm{peak}}\, \gamma^{(n - W - b) / T} & n \ge W,
  \end{cases}
  $$

  with $W$ = `warmup_steps`, $T$ = `transition_steps`, $\gamma$ = `decay_rate`, $b$ =
  `transition_begin` (the exponent floored with `staircase`, the value $\eta_{\mathrm{peak}}$
  while $n - W \le b$ and bounded by `end_value`, as `exponential_decay`).

  Defaults: `transition_begin=0`, `staircase=False`, `end_value=None` (Optax's
  `warmup_exponential_decay_schedule`).

  Args:
    init_value: $\eta_0$.
    peak_value: $\eta_{\mathrm{peak}}$.
    warmup_steps: $W$.
    transition_steps: $T$.
    decay_rate: $\gamma$.
    transition_begin: $b$, counted after the warm-up.
    staircase: floor the exponent.
    end_value: the bound of the value, or `None`.
  """
  decay: ExponentialDecay = exponential_decay(
    peak_value, transition_steps, decay_rate, transition_begin, staircase, end_value
  )
  return Join((_warmup(init_value, peak_value, warmup_steps), decay), (warmup_steps,))
