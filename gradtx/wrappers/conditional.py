"""Run a transformation only at some steps: `conditionally_transform` passes the
updates through otherwise, `conditionally_mask` zeroes them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation, as_transformation
from gradtx.numerics.ops import safe_increment, zero_count
from gradtx.wrappers.branches import zero_updates_of

__all__ = [
  "ConditionallyTransformState",
  "ConditionallyMaskState",
  "Conditionally",
  "conditionally_transform",
  "conditionally_mask",
]


class ConditionallyTransformState(NamedTuple):
  """`inner_state`: the wrapped state (kept as is on steps that skip it);
  `step`: calls so far (the `step` the condition sees, 0 first)."""

  inner_state: Any
  step: jax.Array


class ConditionallyMaskState(NamedTuple):
  """`step`: calls so far (0 first); `inner_state`: the wrapped state."""

  step: jax.Array
  inner_state: Any


class Conditionally(GradientTransformation):
  """`u, s = inner(g, s)` if `should_transform_fn(step, **extra_args)` else
  `u = g` (`mask=False`) or `u = 0` (`mask=True`) with `s` unchanged; `step`
  counts the calls (0 on the first). The extra arguments reach the condition only
  if `forward_extra_args`. The inner step runs under `lax.cond`."""

  inner: GradientTransformation
  should_transform_fn: Callable = static()
  forward_extra_args: bool = static(default=False)
  mask: bool = static(default=False)

  def __post_init__(self):
    object.__setattr__(self, "inner", as_transformation(self.inner))

  def _state(self, step: jax.Array, inner_state: Any) -> Any:
    if self.mask:
      return ConditionallyMaskState(step, inner_state)
    return ConditionallyTransformState(inner_state, step)

  def init(self, params):
    return self._state(zero_count(), self.inner.init(params))

  def update(self, updates, state, params=None, **extra_args):
    def run(inner_state):
      return self.inner.update(updates, inner_state, params, **extra_args)

    def hold(inner_state):
      if not self.mask:
        return updates, inner_state
      return zero_updates_of(run, inner_state), inner_state

    condition = self.should_transform_fn(
      state.step, **(extra_args if self.forward_extra_args else {})
    )
    new_updates, inner_state = jax.lax.cond(condition, run, hold, state.inner_state)
    return new_updates, self._state(safe_increment(state.step), inner_state)


def conditionally_transform(
  inner: Any, should_transform_fn: Callable, forward_extra_args: bool = False
) -> Conditionally:
  r"""`inner` at the steps where `should_transform_fn(step)` is True; elsewhere the
  updates pass through and the inner state is kept.

  $$
  (u_t, s_t) = \begin{cases} \text{inner}(g_t, s_{t-1}) & c(n), \\
    (g_t, s_{t-1}) & \text{otherwise}, \end{cases}
  $$

  with $c$ = `should_transform_fn` and $n$ the calls so far (0 on the first); the extra
  arguments reach $c$ only with `forward_extra_args`. The inner step runs under `lax.cond`.

  Defaults: `forward_extra_args=False` (Optax's `conditionally_transform`).

  Args:
    inner: the transformation applied where $c(n)$ holds.
    should_transform_fn: $c$, a function of the step count.
    forward_extra_args: pass `update`'s extra arguments to $c$.
  """
  return Conditionally(inner, should_transform_fn, forward_extra_args, mask=False)


def conditionally_mask(
  inner: Any, should_transform_fn: Callable, forward_extra_args: bool = False
) -> Conditionally:
  r"""`inner` at the steps where `should_transform_fn(step)` is True; elsewhere the
  updates are zero and the inner state is kept.

  $$
  (u_t, s_t) = \begin{cases} \text{inner}(g_t, s_{t-1}) & c(n), \\
    (0, s_{t-1}) & \text{otherwise}, \end{cases}
  $$

  with $c$ = `should_transform_fn` and $n$ the calls so far (0 on the first).

  Defaults: `forward_extra_args=False` (Optax's `conditionally_mask`).

  Args:
    inner: the transformation applied where $c(n)$ holds.
    should_transform_fn: $c$, a function of the step count.
    forward_extra_args: pass `update`'s extra arguments to $c$.
  """
  return Conditionally(inner, should_transform_fn, forward_extra_args, mask=True)
