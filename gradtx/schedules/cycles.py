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
  r"""One-cycle policy with three linear phases (Smith & Topin, 2017).

  With $T$ = `transition_steps`, $\eta_{\max}$ = `peak_value`, $d$ = `div_factor` and
  $f$ = `final_div_factor`, the schedule interpolates linearly (`piecewise_interpolate_schedule`)
  through

  $$
  \eta(0) = \frac{\eta_{\max}}{d}, \qquad
  \eta(\lfloor p_s T \rfloor) = \eta_{\max}, \qquad
  \eta(\lfloor p_f T \rfloor) = \frac{\eta_{\max}}{d}, \qquad
  \eta(T) = \frac{\eta_{\max}}{d f},
  $$

  and stays at $\eta_{\max} / (d f)$ after $T$; $p_s$ = `pct_start`, $p_f$ = `pct_final`.
  `transition_steps`, `pct_start` and `pct_final` place the boundaries (Python numbers);
  `peak_value`, `div_factor` and `final_div_factor` may be traced.

  Defaults: `pct_start=0.3`, `pct_final=0.85`, `div_factor=25`, `final_div_factor=1e4`
  (Optax's `linear_onecycle_schedule`).

  Args:
    transition_steps: $T$.
    peak_value: $\eta_{\max}$.
    pct_start: $p_s$, the fraction of $T$ spent rising.
    pct_final: $p_f$, the fraction of $T$ at which the fall ends.
    div_factor: $d$.
    final_div_factor: $f$.
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
  r"""One-cycle policy with cosine phases (Smith & Topin, 2017; the fast.ai policy).

  With $T$ = `transition_steps`, $\eta_{\max}$ = `peak_value`, $d$ = `div_factor`,
  $f$ = `final_div_factor` and $p_s$ = `pct_start`, the schedule interpolates by cosine
  (`piecewise_interpolate_schedule`) through

  $$
  \eta(0) = \frac{\eta_{\max}}{d}, \qquad
  \eta(\lfloor p_s T \rfloor) = \eta_{\max}, \qquad
  \eta(T) = \frac{\eta_{\max}}{d f},
  $$

  each phase $\eta = v_1 + \tfrac12 (v_0 - v_1)(1 + \cos \pi p)$ from $v_0$ to $v_1$,
  $p$ the fraction of the phase done; constant after $T$.

  Defaults: `pct_start=0.3`, `div_factor=25`, `final_div_factor=1e4` (Optax's
  `cosine_onecycle_schedule`).

  Args:
    transition_steps: $T$.
    peak_value: $\eta_{\max}$.
    pct_start: $p_s$, the fraction of $T$ spent rising.
    div_factor: $d$.
    final_div_factor: $f$.
  """
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
  r"""SGDR's warm restarts (Loshchilov & Hutter, 2017): cycles of
  `warmup_cosine_decay_schedule(**kwargs)` one after the other, each lasting its
  `decay_steps` (Optax).

  $$
  \eta(n) = \eta_i(n - B_{i-1}) \quad \text{for } B_{i-1} \le n < B_i, \qquad
  B_i = \sum_{j \le i} D_j,
  $$

  with $\eta_i$ the $i$-th warm-up-cosine cycle, $D_j$ its `decay_steps` and $B_0 = 0$.

  Defaults: none (`cosine_kwargs` is required; Optax's `sgdr_schedule`).
  """
  schedules, boundaries, step = [], [], 0
  for kwargs in cosine_kwargs:
    schedules.append(warmup_cosine_decay_schedule(**kwargs))
    step = step + kwargs["decay_steps"]
    boundaries.append(step)
  return Join(tuple(schedules), tuple(boundaries[:-1]))
