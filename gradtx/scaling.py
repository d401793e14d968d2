"""Scaling by a constant, a learning rate or a schedule."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from gradtx._module import static
from gradtx._numerics import safe_increment, scalar_dtype, zero_count
from gradtx.base import EmptyState, GradientTransformation

__all__ = [
    "Scale",
    "ScaleBySchedule",
    "ScaleByScheduleState",
    "scale",
    "scale_by_learning_rate",
    "scale_by_schedule",
]

ScalarOrSchedule = float | jax.Array | Callable[[jax.Array], jax.Array]


def scale_leaves(updates: Any, factor: jax.Array) -> Any:
  """`u = factor * g` leafwise; `factor` is computed once per step.

  The product is formed in the wider of the two dtypes and cast back to the
  update's dtype, so a float32 factor is not rounded to bfloat16 first.
  """
  def leaf(g):
    return (g * factor.astype(jnp.promote_types(g.dtype, factor.dtype))).astype(g.dtype)
  return jax.tree.map(leaf, updates)


class Scale(GradientTransformation):
  """`u = step_size * g`."""

  step_size: Any

  def init(self, params):
    del params
    return EmptyState()

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    return scale_leaves(updates, jnp.asarray(self.step_size, scalar_dtype())), state


class ScaleByScheduleState(NamedTuple):
  """`count`: updates done; `value`: the factor the last update used."""
  count: jax.Array
  value: jax.Array


class ScaleBySchedule(GradientTransformation):
  """`u_t = sign * s(t) * g_t`, `t` = updates done before this one (0 first).

  `schedule` is a gradtx schedule, any callable of the count, or a number;
  `sign` is -1 when built by `scale_by_learning_rate` (descent). The value
  used is stored in the state (`value`), so it can be logged.
  """

  schedule: Any
  sign: float = static(1.0)

  def init(self, params):
    del params
    return ScaleByScheduleState(zero_count(), jnp.zeros([], scalar_dtype()))

  def _value(self, count: jax.Array) -> jax.Array:
    s = self.schedule(count) if callable(self.schedule) else self.schedule
    return jnp.asarray(s, scalar_dtype())

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    value = self._value(state.count)
    updates = scale_leaves(updates, self.sign * value)
    return updates, ScaleByScheduleState(safe_increment(state.count), value)


def scale(step_size: Any) -> Scale:
  """Scales updates by a fixed `step_size`."""
  return Scale(step_size)


def scale_by_schedule(step_size_fn: Callable[[jax.Array], jax.Array]) -> ScaleBySchedule:
  """Scales updates by `step_size_fn(count)`."""
  return ScaleBySchedule(step_size_fn)


def scale_by_learning_rate(learning_rate: ScalarOrSchedule, *,
                           flip_sign: bool = True) -> ScaleBySchedule:
  """`u = -lr(t) * g` (or `+lr(t) * g` when `flip_sign=False`).

  `learning_rate` is a number or a schedule; either way the value used by the
  last step is in the state, under the name `value`.
  """
  return ScaleBySchedule(learning_rate, -1.0 if flip_sign else 1.0)
