"""Learning-rate schedules: pytrees of their parameters, called with the step count.

A schedule maps the number of updates done so far, `count` (0 on the first
step), to a scalar. Every numeric argument is a pytree leaf, so schedules can
be built from traced values (`jax.vmap` sweeps over a decay rate) and passing a
new value into a jitted step does not recompile. Any plain Python callable
`count -> value` may be used wherever a schedule is accepted.

The sources count in epochs; `epoch_schedule(schedule, steps_per_epoch)`
turns a schedule written in epochs into one of the step count.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import Module, static
from gradtx.numerics.ops import scalar_dtype

__all__ = [
    "Schedule",
    "constant_schedule",
    "linear_schedule",
    "polynomial_schedule",
    "exponential_decay",
    "inverse_time_decay",
    "inverse_sqrt_decay",
    "piecewise_constant_schedule",
    "cosine_decay_schedule",
    "warmup_cosine_decay_schedule",
    "join_schedules",
    "epoch_schedule",
]

ScalarOrSchedule = Any


class Schedule(Module):
  """Base class of the built-in schedules: `value = schedule(count)`."""

  def __call__(self, count: Any) -> jnp.ndarray:
    raise NotImplementedError


def _f(x: Any) -> jnp.ndarray:
  return jnp.asarray(x, dtype=scalar_dtype())


class Constant(Schedule):
  """`value(t) = value`."""
  value: Any

  def __call__(self, count):
    return jnp.broadcast_to(_f(self.value), jnp.shape(count))


class Polynomial(Schedule):
  """`s = clip(t - begin, 0, steps); value = (init - end) (1 - s/steps)^power + end`."""
  init_value: Any
  end_value: Any
  power: Any
  transition_steps: Any
  transition_begin: Any = 0

  def __post_init__(self):
    _checks.non_negative("polynomial_schedule", "transition_steps", self.transition_steps)
    _checks.non_negative("polynomial_schedule", "transition_begin", self.transition_begin)

  def __call__(self, count):
    steps = _f(self.transition_steps)
    s = jnp.clip(_f(count) - _f(self.transition_begin), 0.0, steps)
    # transition_steps == 0 means no transition: the value stays init_value.
    frac = jnp.where(steps > 0, 1.0 - s / jnp.where(steps > 0, steps, 1.0), 1.0)
    frac = jnp.maximum(frac, 0.0)  # s / steps may round above 1; 0 ** power, not NaN
    return (_f(self.init_value) - _f(self.end_value)) * frac ** _f(self.power) + _f(self.end_value)


class ExponentialDecay(Schedule):
  """`p = (t - begin) / steps` (floored if staircase);
  `value = init * rate^p` for t > begin (else init), bounded by `end_value`."""
  init_value: Any
  transition_steps: Any
  decay_rate: Any
  transition_begin: Any = 0
  staircase: bool = static(False)
  end_value: Any = None

  def __post_init__(self):
    _checks.positive("exponential_decay", "transition_steps", self.transition_steps)
    _checks.positive("exponential_decay", "decay_rate", self.decay_rate)
    _checks.non_negative("exponential_decay", "transition_begin", self.transition_begin)

  def __call__(self, count):
    t = _f(count) - _f(self.transition_begin)
    p = t / _f(self.transition_steps)
    if self.staircase:
      p = jnp.floor(p)
    init, rate = _f(self.init_value), _f(self.decay_rate)
    value = jnp.where(t <= 0, init, init * rate ** p)
    if self.end_value is not None:
      end = _f(self.end_value)
      value = jnp.where(rate < 1, jnp.maximum(value, end), jnp.minimum(value, end))
    return value


class InverseTimeDecay(Schedule):
  """`value = init / (1 + rate * t / steps)` (t / steps floored if staircase)."""
  init_value: Any
  decay_rate: Any
  decay_steps: Any = 1
  staircase: bool = static(False)

  def __post_init__(self):
    _checks.non_negative("inverse_time_decay", "decay_rate", self.decay_rate)
    _checks.positive("inverse_time_decay", "decay_steps", self.decay_steps)

  def __call__(self, count):
    p = _f(count) / _f(self.decay_steps)
    if self.staircase:
      p = jnp.floor(p)
    return _f(self.init_value) / (1.0 + _f(self.decay_rate) * p)


class InverseSqrtDecay(Schedule):
  """`value = init * k / sqrt(t + offset)` (offset 1: the first step uses t = 1)."""
  init_value: Any
  k: Any = 1.0
  offset: Any = 1

  def __post_init__(self):
    _checks.positive("inverse_sqrt_decay", "offset", self.offset)

  def __call__(self, count):
    return _f(self.init_value) * _f(self.k) / jnp.sqrt(_f(count) + _f(self.offset))


class PiecewiseConstant(Schedule):
  """`value = init * prod(scale_i for boundary_i <= t)`."""
  init_value: Any
  boundaries: tuple = ()
  scales: tuple = ()

  def __post_init__(self):
    if len(self.boundaries) != len(self.scales):
      raise ValueError("piecewise_constant_schedule: boundaries and scales differ in length.")
    for b in self.boundaries:
      _checks.non_negative("piecewise_constant_schedule", "boundary", b)

  def __call__(self, count):
    value = jnp.broadcast_to(_f(self.init_value), jnp.shape(count))
    for boundary, scale in zip(self.boundaries, self.scales):
      value = jnp.where(_f(count) < _f(boundary), value, value * _f(scale))
    return value


class CosineDecay(Schedule):
  """`s = min(t, steps); value = init * ((1 - alpha) * (0.5 (1 + cos(pi s/steps)))^exponent + alpha)`."""
  init_value: Any
  decay_steps: Any
  alpha: Any = 0.0
  exponent: Any = 1.0

  def __post_init__(self):
    _checks.positive("cosine_decay_schedule", "decay_steps", self.decay_steps)

  def __call__(self, count):
    steps = _f(self.decay_steps)
    s = jnp.minimum(_f(count), steps)
    cosine = 0.5 * (1.0 + jnp.cos(math.pi * s / steps))
    alpha = _f(self.alpha)
    return _f(self.init_value) * ((1.0 - alpha) * cosine ** _f(self.exponent) + alpha)


class Join(Schedule):
  """`schedules[i](t - boundaries[i-1])` on `[boundaries[i-1], boundaries[i])`."""
  schedules: tuple
  boundaries: tuple

  def __post_init__(self):
    if len(self.boundaries) != len(self.schedules) - 1:
      raise ValueError("join_schedules: need one boundary fewer than schedules.")

  def __call__(self, count):
    value = _f(self.schedules[0](count))
    for boundary, schedule in zip(self.boundaries, self.schedules[1:]):
      value = jnp.where(_f(count) < _f(boundary), value, _f(schedule(count - boundary)))
    return value


class EpochSchedule(Schedule):
  """`value(t) = schedule(first_epoch + floor(t / steps_per_epoch))`."""
  schedule: Callable
  steps_per_epoch: Any
  first_epoch: Any = 0

  def __post_init__(self):
    _checks.positive("epoch_schedule", "steps_per_epoch", self.steps_per_epoch)

  def __call__(self, count):
    epoch = jnp.floor(_f(count) / _f(self.steps_per_epoch)) + _f(self.first_epoch)
    return self.schedule(epoch)


def constant_schedule(value: Any) -> Constant:
  """Constant schedule."""
  return Constant(value)


def linear_schedule(init_value: Any, end_value: Any, transition_steps: Any,
                    transition_begin: Any = 0) -> Polynomial:
  """Linear interpolation from `init_value` to `end_value` over `transition_steps`."""
  return Polynomial(init_value, end_value, 1.0, transition_steps, transition_begin)


def polynomial_schedule(init_value: Any, end_value: Any, power: Any, transition_steps: Any,
                        transition_begin: Any = 0) -> Polynomial:
  """Polynomial decay: `(init - end) * (1 - s / steps)^power + end` (Optax's rule)."""
  return Polynomial(init_value, end_value, power, transition_steps, transition_begin)


def exponential_decay(init_value: Any, transition_steps: Any, decay_rate: Any,
                      transition_begin: Any = 0, staircase: bool = False,
                      end_value: Any = None) -> ExponentialDecay:
  """`init * decay_rate^((t - begin) / transition_steps)`, floored if `staircase`.

  The sources' `lr = 0.95^epoch * lr0` is `exponential_decay(lr0, 1, 0.95)`
  of the epoch (see `epoch_schedule`); its staircase form drops every k epochs.
  """
  return ExponentialDecay(init_value, transition_steps, decay_rate, transition_begin,
                          staircase, end_value)


def inverse_time_decay(init_value: Any, decay_rate: Any, decay_steps: Any = 1,
                       staircase: bool = False) -> InverseTimeDecay:
  """`init / (1 + decay_rate * t / decay_steps)`.

  With init 0.2 and rate 1, t = 1, 2, 3, 4 gives 0.1, 0.0667, 0.05, 0.04.
  """
  return InverseTimeDecay(init_value, decay_rate, decay_steps, staircase)


def inverse_sqrt_decay(init_value: Any, k: Any = 1.0, offset: Any = 1) -> InverseSqrtDecay:
  """`init * k / sqrt(t + offset)`: the sources' `k / sqrt(t) * lr0` with 1-based t."""
  return InverseSqrtDecay(init_value, k, offset)


def piecewise_constant_schedule(init_value: Any,
                                boundaries_and_scales: dict | None = None) -> PiecewiseConstant:
  """Multiplies the value by `scale` from each `boundary` step on (manual drops)."""
  items = sorted((boundaries_and_scales or {}).items())
  return PiecewiseConstant(init_value, tuple(b for b, _ in items), tuple(s for _, s in items))


def cosine_decay_schedule(init_value: Any, decay_steps: Any, alpha: Any = 0.0,
                          exponent: Any = 1.0) -> CosineDecay:
  """Cosine decay from `init_value` to `alpha * init_value` over `decay_steps`."""
  return CosineDecay(init_value, decay_steps, alpha, exponent)


def warmup_cosine_decay_schedule(init_value: Any, peak_value: Any, warmup_steps: Any,
                                 decay_steps: Any, end_value: Any = 0.0,
                                 exponent: Any = 1.0) -> Join:
  """Linear warm-up from `init_value` to `peak_value`, then cosine decay to
  `end_value`; `decay_steps` includes the warm-up (Optax's convention)."""
  _checks.non_negative("warmup_cosine_decay_schedule", "warmup_steps", warmup_steps)
  _checks.greater("warmup_cosine_decay_schedule", "decay_steps", decay_steps,
                  "warmup_steps", warmup_steps)
  return Join(
      (linear_schedule(init_value, peak_value, warmup_steps),
       CosineDecay(peak_value, decay_steps - warmup_steps, _ratio(end_value, peak_value),
                   exponent)),
      (warmup_steps,))


def _ratio(end: Any, peak: Any) -> Any:
  """`end / peak`, and 0 when `peak` is 0 (the whole cosine part is then 0; as Optax)."""
  if isinstance(end, (int, float)) and isinstance(peak, (int, float)):
    return 0.0 if peak == 0 else end / peak
  peak = jnp.asarray(peak)
  return jnp.where(peak == 0, 0.0, end / jnp.where(peak == 0, 1.0, peak))


def join_schedules(schedules: Sequence[Callable], boundaries: Sequence[Any]) -> Join:
  """Runs `schedules[i]` from `boundaries[i-1]` on, with its count restarted at 0."""
  return Join(tuple(schedules), tuple(boundaries))


def epoch_schedule(schedule: Callable, steps_per_epoch: Any, first_epoch: Any = 0) -> EpochSchedule:
  """A schedule of the epoch, `floor(t / steps_per_epoch) + first_epoch`, as one of the step."""
  return EpochSchedule(schedule, steps_per_epoch, first_epoch)
