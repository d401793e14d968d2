"""Optax's `MultiSteps`: gradient accumulation with a schedule of `k` and skippable
mini-steps, on the accumulation core `accumulate_step` (`accumulation.py`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation, as_transformation
from gradtx.numerics.ops import abs_sq, compute_dtype, zero_count, zeros_like
from gradtx.wrappers.accumulation import accumulate_step
from gradtx.wrappers.branches import zero_updates_of

__all__ = ["MultiSteps", "MultiStepsState", "skip_not_finite", "skip_large_updates"]


class MultiStepsState(NamedTuple):
  """`mini_step`: mini-steps accumulated since the last update (0..k-1);
  `gradient_step`: updates emitted; `inner_opt_state`: the wrapped optimizer's state;
  `acc_grads`: the accumulated gradients; `skip_state`: what `should_skip_update_fn`
  returned last (`()` without one)."""

  mini_step: jax.Array
  gradient_step: jax.Array
  inner_opt_state: Any
  acc_grads: Any
  skip_state: Any = ()


class MultiSteps(GradientTransformation):
  """Applies `opt` once every `k` calls to the mean (or sum) of the `k` gradients,
  `u = 0` in between; `k = every_k_schedule(gradient_step)` may change over training.

  A mini-step for which `should_skip_update_fn(updates, gradient_step, params)`
  returns True is dropped: the state is unchanged but for `skip_state`, `u = 0`.
  The accumulation is `accumulate_step`'s, shared with `accumulate_gradients`:
  the inner optimizer runs only on the k-th call (under `lax.cond`).

  `accumulator_dtype=None` (gradtx's default) stores the sum in the params' dtype
  promoted to at least float32; Optax's default is always float32.
  Optax's class interface is kept: `.init`, `.update`, `.has_updated(state)`,
  `.gradient_transformation()` (this object, already a transformation), `.inner_opt`.
  """

  opt: GradientTransformation
  every_k_schedule: Any = 1
  use_grad_mean: bool = static(default=True)
  should_skip_update_fn: Callable | None = static(default=None)
  accumulator_dtype: Any = static(default=None)

  def __post_init__(self):
    object.__setattr__(self, "opt", as_transformation(self.opt))
    if not callable(self.every_k_schedule):
      _checks.positive_integer("MultiSteps", "every_k_schedule", self.every_k_schedule)

  @property
  def inner_opt(self) -> GradientTransformation:
    return self.opt

  def _k(self, gradient_step: jax.Array) -> Any:
    k = self.every_k_schedule
    return k(gradient_step) if callable(k) else k

  def init(self, params):
    acc = zeros_like(params, self.accumulator_dtype)
    skip_state = ()
    if self.should_skip_update_fn is not None:
      _, skip_state = self.should_skip_update_fn(
        jax.tree.map(jnp.zeros_like, params), zero_count(), params
      )
    return MultiStepsState(zero_count(), zero_count(), self.opt.init(params), acc, skip_state)

  def update(self, updates, state, params=None, **extra_args):
    def accumulate(state):
      out = accumulate_step(
        self.opt,
        self._k(state.gradient_step),
        updates,
        state.mini_step,
        state.gradient_step,
        state.acc_grads,
        state.inner_opt_state,
        params,
        mean=self.use_grad_mean,
        extra_args=extra_args,
      )
      new_updates, mini_step, gradient_step, acc, inner_state = out
      return new_updates, MultiStepsState(
        mini_step, gradient_step, inner_state, acc, state.skip_state
      )

    if self.should_skip_update_fn is None:
      return accumulate(state)
    should_skip, skip_state = self.should_skip_update_fn(updates, state.gradient_step, params)
    should_skip = jnp.asarray(should_skip)
    if (should_skip.dtype, should_skip.shape) != (jnp.bool_, ()):
      raise ValueError(
        "MultiSteps: should_skip_update_fn must return a bool scalar first, got "
        f"dtype {should_skip.dtype} and shape {should_skip.shape}."
      )
    state = state._replace(skip_state=skip_state)

    def drop(state):
      return zero_updates_of(accumulate, state), state

    return jax.lax.cond(should_skip, drop, accumulate, state)

  def has_updated(self, state: Any) -> jax.Array:
    """True right after a step in which the inner optimizer ran."""
    return jnp.logical_and(state.mini_step == 0, state.gradient_step > 0)

  def gradient_transformation(self) -> MultiSteps:
    """This object (Optax's `MultiSteps` returns an `(init, update)` pair here)."""
    return self


def skip_not_finite(updates: Any, gradient_step: Any, params: Any) -> tuple[jax.Array, dict]:
  """A `should_skip_update_fn` for `MultiSteps`: skip when any update entry is NaN or
  Inf. Returns `(should_skip, {"should_skip", "num_not_finite"})`."""
  del gradient_step, params
  counts = [jnp.sum(~jnp.isfinite(g)) for g in jax.tree.leaves(updates)]
  num = sum(counts, jnp.zeros([], counts[0].dtype if counts else jnp.int32))
  should_skip = num > 0
  return should_skip, {"should_skip": should_skip, "num_not_finite": num}


def skip_large_updates(
  updates: Any, gradient_step: Any, params: Any, max_squared_norm: Any
) -> tuple[jax.Array, dict]:
  """A `should_skip_update_fn` for `MultiSteps` (bind `max_squared_norm` with
  `functools.partial`): skip unless `sum |g|^2 < max_squared_norm` (a NaN norm skips).
  Returns `(should_skip, {"should_skip", "norm_squared"})`."""
  del gradient_step, params
  leaves = jax.tree.leaves(updates)
  sums = [
    jnp.sum(abs_sq(jnp.asarray(g).astype(compute_dtype(jnp.asarray(g).dtype)))) for g in leaves
  ]
  norm_sq = sum(sums[1:], sums[0]) if sums else jnp.zeros([])
  should_skip = ~(norm_sq < max_squared_norm)
  return should_skip, {"should_skip": should_skip, "norm_squared": norm_sq}
