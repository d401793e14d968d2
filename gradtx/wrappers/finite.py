"""Non-finite gradients: skip the step (`apply_if_finite`) or zero them (`zero_nans`)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.protocol import GradientTransformation, as_transformation
from gradtx.numerics.ops import join_small_leaves

__all__ = [
  "ApplyIfFinite",
  "ApplyIfFiniteState",
  "apply_if_finite",
  "zero_nans",
  "ZeroNans",
  "ZeroNansState",
  "all_finite",
]


def all_finite(tree: Any) -> jax.Array:
  """True when every element of every leaf is finite (small leaves checked together)."""
  leaves = [
    jnp.all(jnp.isfinite(x))
    for x in join_small_leaves([jnp.asarray(x) for x in jax.tree.leaves(tree)])
  ]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


class ApplyIfFiniteState(NamedTuple):
  """`notfinite_count`: consecutive skipped steps; `last_finite`: whether the
  last step's gradients were finite; `total_notfinite`: all skipped steps;
  `inner_state`: the wrapped state (untouched by a skipped step)."""

  notfinite_count: jax.Array
  last_finite: jax.Array
  total_notfinite: jax.Array
  inner_state: Any


class ApplyIfFinite(GradientTransformation):
  """Skips a step whose gradients hold NaN or Inf.

  If every gradient is finite: `u, s = inner(g, s)`. Otherwise `u = 0`, the
  inner state is left exactly as it was, and the skip is counted. After
  `max_consecutive_errors` consecutive skips the next step is applied anyway
  (giving up, as Optax does), so a persistent NaN surfaces instead of
  silently stalling training.
  """

  inner: GradientTransformation
  max_consecutive_errors: Any = 5

  def __post_init__(self):
    object.__setattr__(self, "inner", as_transformation(self.inner))
    _checks.non_negative("apply_if_finite", "max_consecutive_errors", self.max_consecutive_errors)

  def init(self, params):
    zero = jnp.zeros([], jnp.int32)
    return ApplyIfFiniteState(zero, jnp.asarray(True), zero, self.inner.init(params))

  def update(self, updates, state, params=None, **extra_args):
    finite = all_finite(updates)
    give_up = state.notfinite_count >= jnp.asarray(self.max_consecutive_errors, jnp.int32)
    apply = finite | give_up

    def step(inner_state):
      return self.inner.update(updates, inner_state, params, **extra_args)

    def skip(inner_state):
      return jax.tree.map(jnp.zeros_like, updates), inner_state

    new_updates, inner_state = jax.lax.cond(apply, step, skip, state.inner_state)
    notfinite = jnp.where(finite, 0, state.notfinite_count + 1).astype(jnp.int32)
    total = (state.total_notfinite + (~finite).astype(jnp.int32)).astype(jnp.int32)
    return new_updates, ApplyIfFiniteState(notfinite, finite, total, inner_state)


def apply_if_finite(inner: Any, max_consecutive_errors: Any) -> ApplyIfFinite:
  r"""Wraps `inner` so that non-finite gradients skip the step.

  $$
  (u_t, s_t) = \begin{cases} \text{inner}(g_t, s_{t-1}) &
    g_t \text{ finite, or } e_{t-1} \ge E, \\
    (0, s_{t-1}) & \text{otherwise}, \end{cases}
  $$

  with $e$ the count of consecutive skips and $E$ = `max_consecutive_errors`: after $E$
  consecutive skips the next step is applied anyway (giving up, as Optax does), so a
  persistent NaN surfaces instead of silently stalling training.

  Defaults: none (`max_consecutive_errors` is required; Optax's `apply_if_finite`).

  Args:
    inner: the transformation applied on finite gradients.
    max_consecutive_errors: $E$.
  """
  return ApplyIfFinite(inner, max_consecutive_errors)


class ZeroNansState(NamedTuple):
  """`found_nan`: tree shaped like the params, one bool scalar per leaf: whether the
  last update's leaf held a NaN (Optax's state; not used by the transformation)."""

  found_nan: Any


class ZeroNans(GradientTransformation):
  """`u = where(isnan(g), 0, g)`: replaces NaN gradients by zero (Inf is kept), and
  records per leaf whether it did."""

  def init(self, params):
    return ZeroNansState(jax.tree.map(lambda _: jnp.asarray(False), params))

  def update(self, updates, state, params=None, **extra_args):
    del state, params, extra_args
    found = jax.tree.map(lambda g: jnp.any(jnp.isnan(g)), updates)
    return (
      jax.tree.map(lambda g: jnp.where(jnp.isnan(g), jnp.zeros_like(g), g), updates),
      ZeroNansState(found),
    )


def zero_nans() -> ZeroNans:
  r"""Replaces NaN gradients by zero (Inf is kept), recording per leaf whether it did.

  $$
  u_t = \begin{cases} 0 & g_t = \text{NaN}, \\ g_t & \text{otherwise}, \end{cases}
  $$

  elementwise.

  Defaults: none (no arguments; Optax's `zero_nans`).
  """
  return ZeroNans()
