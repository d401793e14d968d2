"""Cyclical schedules: one-cycle (Smith & Topin, "Super-Convergence", 2017) and SGDR
(Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", 2017)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gradtx.core import checks as _checks
from gradtx.schedules.piecewise import Join, PiecewiseInterpolate, piecewise_interpolate_schedule
from gradtx.schedules.warmup import warmup_cosine_decay_schedule

__all__ = ["linear_onecycle_schedule", "cosine_onecycle_schedule", "sgdr_schedule"]


def linear_onecycle_schedule(
  transition_steps: int,
  peak_value: Any,
  pct_start: float = 0.3,
  pct_final: float = 0.85,
  div_factor: Any = 25.0,
  final_div_factor: Any = 1e4,
) -> PiecewiseInterpolate:
  """Three linear phases (Optax's defaults): `peak / div_factor` up to `peak_value`
  at `int(pct_start * T)`, back to `peak / div_factor` at `int(pct_final * T)`, then
  to `peak / (div_factor * final_div_factor)` at `T = transition_steps`.

  `transition_steps`, `pct_start` and `pct_final` place the boundaries (Python
  numbers); `peak_value`, `div_factor` and `final_div_factor` may be traced.
  """
  _checks.positive("linear_onecycle_schedule", "transition_steps", transition_steps)
  _checks.unit_interval("linear_onecycle_schedule", "pct_start", pct_start)
  _checks.unit_interval("linear_onecycle_schedule", "pct_final", pct_final)
  return piecewise_interpolate_schedule(
    "linear",
    peak_value / div_factor,
    {
      int(pct_start * transition_steps): div_factor,
      int(pct_final * transition_steps): 1.0 / div_factor,
      transition_steps: 1.0 / final_div_factor,
    },
  )


def cosine_onecycle_schedule(
  transition_steps: int,
  peak_value: Any,
  pct_start: float = 0.3,
  div_factor: Any = 25.0,
  final_div_factor: Any = 1e4,
) -> PiecewiseInterpolate:
  """Cosine rise from `peak / div_factor` to `peak_value` at `int(pct_start * T)`,
  then cosine decay to `peak / (div_factor * final_div_factor)` at
  `T = transition_steps` (Optax's defaults; the fast.ai one-cycle policy)."""
  _checks.positive("cosine_onecycle_schedule", "transition_steps", transition_steps)
  _checks.unit_interval("cosine_onecycle_schedule", "pct_start", pct_start)
  return piecewise_interpolate_schedule(
    "cosine",
    peak_value / div_factor,
    {
      int(pct_start * transition_steps): div_factor,
      int(transition_steps): 1.0 / (div_factor * final_div_factor),
    },
  )


def sgdr_schedule(cosine_kwargs: Iterable[dict[str, Any]]) -> Join:
  """Warm restarts: `warmup_cosine_decay_schedule(**kwargs)` cycles one after the
  other, each lasting its `decay_steps` (Optax)."""
  schedules, boundaries, step = [], [], 0
  for kwargs in cosine_kwargs:
    schedules.append(warmup_cosine_decay_schedule(**kwargs))
    step = step + kwargs["decay_steps"]
    boundaries.append(step)
  return Join(tuple(schedules), tuple(boundaries[:-1]))
