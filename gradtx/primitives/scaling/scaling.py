"""Scaling by a constant, a learning rate or a schedule."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation, StatelessTransformation
from gradtx.core.validate import check_arrays
from gradtx.numerics.ops import cast, safe_increment, scalar_dtype, zero_count

__all__ = [
  "Scale",
  "ScaleByLearningRate",
  "ScaleByLearningRateState",
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
  check_arrays(updates, "updates", inexact=True)
  factor_as = functools.cache(lambda dt: cast(factor, dt))  # cast once per dtype, not per leaf

  def leaf(g):
    return cast(g * factor_as(jnp.promote_types(g.dtype, factor.dtype)), g.dtype)

  return jax.tree.map(leaf, updates)


class Scale(StatelessTransformation):
  """`u = step_size * g`."""

  step_size: Any

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    return scale_leaves(updates, jnp.asarray(self.step_size, scalar_dtype())), state


class ScaleByScheduleState(NamedTuple):
  """`count`: updates done; `scale`: the factor the last update used."""

  count: jax.Array
  scale: jax.Array
  _hyperparams = ("scale",)


class ScaleByLearningRateState(NamedTuple):
  """`count`: updates done; `learning_rate`: the rate the last update used."""

  count: jax.Array
  learning_rate: jax.Array
  _hyperparams = ("learning_rate",)


def evaluate(value: Any, count: jax.Array) -> jax.Array:
  """A number or a schedule's value at `count`, as a scalar of the scalar dtype."""
  return jnp.asarray(value(count) if callable(value) else value, scalar_dtype())


class ScaleBySchedule(GradientTransformation):
  """`u_t = s(t) * g_t`, `t` = updates done before this one (0 on the first).

  `step_size_fn` is a gradtx schedule, any callable of the count, or a number.
  The value used is stored in the state (`scale`), so it can be logged.
  """

  step_size_fn: Any

  def init(self, params):
    del params
    return ScaleByScheduleState(zero_count(), jnp.zeros([], scalar_dtype()))

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    value = evaluate(self.step_size_fn, state.count)
    return scale_leaves(updates, value), ScaleByScheduleState(safe_increment(state.count), value)


class ScaleByLearningRate(GradientTransformation):
  """`u_t = -lr(t) * g_t` (`+lr(t) * g_t` with `flip_sign=False`).

  `learning_rate` is a number or a schedule of the step count `t` (0 on the
  first update). The rate used by the last step is in the state
  (`learning_rate`), so it can be logged or read with `gradtx.hyperparams`.
  """

  learning_rate: Any
  flip_sign: bool = static(default=True)

  def init(self, params):
    check_arrays(params, "params", inexact=True)
    return ScaleByLearningRateState(zero_count(), jnp.zeros([], scalar_dtype()))

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    lr = evaluate(self.learning_rate, state.count)
    updates = scale_leaves(updates, -lr if self.flip_sign else lr)
    return updates, ScaleByLearningRateState(safe_increment(state.count), lr)


def scale(step_size: Any) -> Scale:
  r"""Scales updates by a fixed factor: $u_t = \alpha\, g_t$, $\alpha$ = `step_size`.

  Defaults: none (`step_size` is required).
  """
  return Scale(step_size)


def scale_by_schedule(step_size_fn: Callable[[jax.Array], jax.Array]) -> ScaleBySchedule:
  r"""Scales updates by a schedule: $u_t = s(t - 1)\, g_t$.

  $s$ = `step_size_fn` is a gradtx schedule, any callable of the count, or a number; its
  argument is the count of updates done before this one (0 on the first). The value used
  is stored in the state (`scale`), so it can be logged.

  Defaults: none (`step_size_fn` is required).
  """
  return ScaleBySchedule(step_size_fn)


def scale_by_learning_rate(
  learning_rate: ScalarOrSchedule, *, flip_sign: bool = True
) -> ScaleByLearningRate:
  r"""Scales updates by the negated learning rate: $u_t = -\eta(t - 1)\, g_t$.

  $\eta$ = `learning_rate` is a number or a schedule of the count of updates done before
  this one (0 on the first); with `flip_sign=False`, $u_t = +\eta(t - 1)\, g_t$. The rate
  the last step used is in the state (`learning_rate`), for logging or
  `gradtx.hyperparams_of`.

  Defaults: `flip_sign=True` (Optax's `scale_by_learning_rate`).
  """
  return ScaleByLearningRate(learning_rate, flip_sign)
