"""Piecewise schedules: constant with scaled jumps, interpolated between the jumps,
schedules joined at boundaries, and schedules of the epoch."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.schedules.base import Schedule, as_float

__all__ = [
  "piecewise_constant_schedule",
  "piecewise_interpolate_schedule",
  "join_schedules",
  "epoch_schedule",
]


def _sorted_items(owner: str, boundaries_and_scales: dict | None) -> tuple[tuple, tuple]:
  """`(boundaries, scales)` sorted by boundary; boundaries >= 0 and scales >= 0
  (Optax refuses negative scales)."""
  items = sorted((boundaries_and_scales or {}).items())
  for boundary, scale in items:
    _checks.non_negative(owner, "boundary", boundary)
    _checks.non_negative(owner, "scale", scale)
  return tuple(b for b, _ in items), tuple(s for _, s in items)


class PiecewiseConstant(Schedule):
  """`value = init * prod(scale_i for boundary_i <= t)`."""

  init_value: Any
  boundaries: tuple = ()
  scales: tuple = ()

  def __post_init__(self):
    if len(self.boundaries) != len(self.scales):
      raise ValueError("piecewise_constant_schedule: boundaries and scales differ in length.")

  def __call__(self, count):
    value = jnp.broadcast_to(as_float(self.init_value), jnp.shape(count))
    for boundary, scale in zip(self.boundaries, self.scales):
      value = jnp.where(as_float(count) < as_float(boundary), value, value * as_float(scale))
    return value


def _linear(start: Any, end: Any, pct: Any) -> Any:
  return (end - start) * pct + start


def _cosine(start: Any, end: Any, pct: Any) -> Any:
  return end + (start - end) / 2.0 * (jnp.cos(math.pi * pct) + 1.0)


_INTERPOLATE = {"linear": _linear, "cosine": _cosine}


class PiecewiseInterpolate(Schedule):
  """`v_0 = init`, `v_i = v_{i-1} * scale_i`, `b_0 = 0`; on `[b_{i-1}, b_i)` the value goes
  from `v_{i-1}` to `v_i` (linearly, or as `v_i + (v_{i-1} - v_i) (1 + cos(pi pct)) / 2`)
  with `pct = (t - b_{i-1}) / max(b_i - b_{i-1}, 1)`; `v_n` from `b_n` on, 0 before step 0."""

  interpolate_type: str = static()
  init_value: Any = None
  boundaries: tuple = ()
  scales: tuple = ()

  def __post_init__(self):
    if self.interpolate_type not in _INTERPOLATE:
      raise ValueError(
        "piecewise_interpolate_schedule: interpolate_type="
        f"{self.interpolate_type!r} is invalid; expected 'linear' or 'cosine'."
      )
    if len(self.boundaries) != len(self.scales):
      raise ValueError("piecewise_interpolate_schedule: boundaries and scales differ in length.")

  def __call__(self, count):
    t, interpolate = as_float(count), _INTERPOLATE[self.interpolate_type]
    start, begin = as_float(self.init_value), as_float(0.0)
    value = jnp.zeros(jnp.shape(count), start.dtype)
    for boundary, scale in zip(self.boundaries, self.scales):
      end, stop = start * as_float(scale), as_float(boundary)
      pct = (t - begin) / jnp.maximum(stop - begin, 1.0)
      value = jnp.where((begin <= t) & (t < stop), interpolate(start, end, pct), value)
      start, begin = end, stop
    return jnp.where(begin <= t, start, value)


class Join(Schedule):
  """`schedules[i](t - boundaries[i-1])` on `[boundaries[i-1], boundaries[i])`."""

  schedules: tuple
  boundaries: tuple

  def __post_init__(self):
    if len(self.boundaries) != len(self.schedules) - 1:
      raise ValueError("join_schedules: need one boundary fewer than schedules.")

  def __call__(self, count):
    value = as_float(self.schedules[0](count))
    for boundary, schedule in zip(self.boundaries, self.schedules[1:]):
      value = jnp.where(
        as_float(count) < as_float(boundary), value, as_float(schedule(count - boundary))
      )
    return value


class EpochSchedule(Schedule):
  """`value(t) = schedule(first_epoch + floor(t / steps_per_epoch))`."""

  schedule: Callable
  steps_per_epoch: Any
  first_epoch: Any = 0

  def __post_init__(self):
    _checks.positive("epoch_schedule", "steps_per_epoch", self.steps_per_epoch)

  def __call__(self, count):
    epoch = jnp.floor(as_float(count) / as_float(self.steps_per_epoch)) + as_float(self.first_epoch)
    return self.schedule(epoch)


def piecewise_constant_schedule(
  init_value: Any, boundaries_and_scales: dict | None = None
) -> PiecewiseConstant:
  r"""Multiplies the value by `scale` from each `boundary` step on (manual drops).

  $$
  \eta(n) = \eta_0 \prod_{i:\, b_i \le n} s_i,
  $$

  with $(b_i, s_i)$ the items of `boundaries_and_scales` (both must be $\ge 0$) and $n$
  the step count (0 on the first update).

  Defaults: `boundaries_and_scales=None` (no drops; Optax's
  `piecewise_constant_schedule`).
  """
  boundaries, scales = _sorted_items("piecewise_constant_schedule", boundaries_and_scales)
  return PiecewiseConstant(init_value, boundaries, scales)


def piecewise_interpolate_schedule(
  interpolate_type: str, init_value: Any, boundaries_and_scales: dict | None = None
) -> PiecewiseInterpolate:
  r"""Interpolates (`'linear'` or `'cosine'`) between the accumulated values reached at
  the sorted boundaries (Optax's rule).

  With $v_0 = \eta_0$, $v_i = v_{i-1} s_i$, $b_0 = 0$ and, on $[b_{i-1}, b_i)$,
  $p = (n - b_{i-1}) / \max(b_i - b_{i-1}, 1)$:

  $$
  \eta(n) = v_{i-1} + (v_i - v_{i-1})\, p \quad \text{(linear)}, \qquad
  \eta(n) = v_i + \tfrac12 (v_{i-1} - v_i) \big(1 + \cos(\pi p)\big) \quad \text{(cosine)},
  $$

  and $\eta(n) = v_k$ from the last boundary $b_k$ on; the value is 0 for a negative step
  count, as in Optax.

  Defaults: `boundaries_and_scales=None` (Optax's `piecewise_interpolate_schedule`).
  """
  boundaries, scales = _sorted_items("piecewise_interpolate_schedule", boundaries_and_scales)
  return PiecewiseInterpolate(interpolate_type, init_value, boundaries, scales)


def join_schedules(schedules: Sequence[Callable], boundaries: Sequence[Any]) -> Join:
  r"""Runs `schedules[i]` from `boundaries[i-1]` on, with its count restarted at 0.

  $$
  \eta(n) = \eta_i(n - b_{i-1}) \quad \text{for } b_{i-1} \le n < b_i,
  $$

  with $b_0 = 0$ for the first schedule and $b$ = `boundaries` (one fewer than
  `schedules`).

  Defaults: none (both arguments are required; Optax's `join_schedules`).
  """
  return Join(tuple(schedules), tuple(boundaries))


def epoch_schedule(schedule: Callable, steps_per_epoch: Any, first_epoch: Any = 0) -> EpochSchedule:
  r"""A schedule of the epoch as one of the step.

  $$
  \eta(n) = f\big(e_0 + \lfloor n / S \rfloor\big),
  $$

  with $f$ = `schedule`, $S$ = `steps_per_epoch`, $e_0$ = `first_epoch` and $n$ the step
  count (0 on the first update).

  Defaults: `first_epoch=0` (the sources count epochs from 0; gradtx's own, Optax has no
  such schedule).
  """
  return EpochSchedule(schedule, steps_per_epoch, first_epoch)
