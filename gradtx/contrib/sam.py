"""Sharpness-Aware Minimization (Foret et al., 2021) with Optax's `sam` protocol, and the
gradient normalization its adversarial step uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.combinators.combine import as_transformation
from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import EmptyState, GradientTransformation, StatelessTransformation
from gradtx.numerics.ops import hyper, safe_div
from gradtx.numerics.updates import apply_updates
from gradtx.primitives.clipping.clipping import global_norm

__all__ = ["NormalizeState", "Normalize", "normalize", "SAMState", "SAM", "sam"]

NormalizeState = EmptyState


class Normalize(StatelessTransformation):
  """`u = g / |g|` (the global norm over all leaves), and `u = 0` when `|g| = 0`
  (Optax divides 0 by 0 and returns NaN, so SAM's first step at a stationary point
  poisons the parameters); a NaN norm still gives NaN."""

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    norm = global_norm(updates)
    return jax.tree.map(lambda g: safe_div(g, hyper(norm, g.dtype).astype(g.dtype)), updates), state


def normalize() -> Normalize:
  r"""Normalizes the gradient by its global norm: $u_t = g_t / \|g_t\|$, and $u_t = 0$
  where $\|g_t\| = 0$ (Optax divides 0 by 0 and returns NaN, so SAM's first step at a
  stationary point poisons the parameters); a NaN norm still gives NaN.

  Defaults: none (no arguments; Optax's `contrib.normalize`).
  """
  return Normalize()


class SAMState(NamedTuple):
  """Optax's fields: `steps_since_sync`, `opt_state` (outer), `adv_state` (adversarial),
  `cache` (the outer parameters; None in opaque mode)."""

  steps_since_sync: jax.Array
  opt_state: Any
  adv_state: Any
  cache: Any


def _pick(cond: jax.Array, a: Any, b: Any) -> Any:
  """`a` where `cond` else `b`, leafwise; a NaN in the branch not taken stays out
  (Optax's `cond a + (1 - cond) b` lets it in)."""
  return jax.tree.map(lambda x, y: jnp.where(cond, x, y), a, b)


class SAM(GradientTransformation):
  """SAM; the rule and defaults are on `sam`."""

  optimizer: GradientTransformation
  adv_optimizer: GradientTransformation
  sync_period: int = static(default=2)
  reset_state: bool = static(default=True)
  opaque_mode: bool = static(default=False)
  batch_axis_name: Any = static(default=None)

  def __post_init__(self):
    object.__setattr__(self, "optimizer", as_transformation(self.optimizer))
    object.__setattr__(self, "adv_optimizer", as_transformation(self.adv_optimizer))
    _checks.positive_integer("sam", "sync_period", self.sync_period)

  def init(self, params):
    return SAMState(
      jnp.zeros([], jnp.int32),
      self.optimizer.init(params),
      self.adv_optimizer.init(params),
      # a copy: a state leaf aliasing a param would break buffer donation
      None if self.opaque_mode else jax.tree.map(lambda p: jnp.array(p, copy=True), params),
    )

  def update(self, updates, state, params=None, *, grad_fn: Callable | None = None, **extra_args):
    del extra_args
    if self.opaque_mode:
      return self._opaque(updates, state, params, grad_fn)
    first = state.steps_since_sync == 0
    last = state.steps_since_sync == self.sync_period - 1
    adv_updates, adv_state = self.adv_optimizer.update(updates, state.adv_state, params)
    adv_updates = jax.tree.map(jnp.negative, adv_updates)
    opt_updates, opt_state = self.optimizer.update(updates, state.opt_state, state.cache)
    opt_updates = jax.tree.map(lambda c, p, u: c - p + u, state.cache, params, opt_updates)
    if self.reset_state:
      adv_state = _pick(last, self.adv_optimizer.init(params), adv_state)
    else:
      adv_state = _pick(last, state.adv_state, adv_state)
    return _pick(last, opt_updates, adv_updates), SAMState(
      (state.steps_since_sync + 1) % self.sync_period,
      _pick(last, opt_state, state.opt_state),
      adv_state,
      _pick(first, params, state.cache),
    )

  def _opaque(self, updates, state, params, grad_fn):
    if grad_fn is None:
      raise ValueError(
        "sam: opaque_mode=True needs update(..., grad_fn=grad_fn), "
        "grad_fn(params, i) the gradient at adversarial step i."
      )
    adv_params, adv_updates, adv_state = params, updates, state.adv_state
    for i in range(self.sync_period - 1):
      adv_updates, adv_state = self.adv_optimizer.update(adv_updates, adv_state, adv_params)
      adv_params = apply_updates(adv_params, jax.tree.map(jnp.negative, adv_updates))
      adv_updates = grad_fn(adv_params, i)
      if self.batch_axis_name is not None:
        adv_updates = jax.lax.pmean(adv_updates, axis_name=self.batch_axis_name)
    if self.reset_state:
      adv_state = self.adv_optimizer.init(params)
    new_updates, opt_state = self.optimizer.update(adv_updates, state.opt_state, params)
    return new_updates, SAMState(jnp.zeros([], jnp.int32), opt_state, adv_state, None)


def sam(
  optimizer: Any,
  adv_optimizer: Any,
  sync_period: int = 2,
  reset_state: bool = True,
  opaque_mode: bool = False,
  batch_axis_name: str | None = None,
) -> SAM:
  r"""Sharpness-Aware Minimization around `optimizer` (Foret et al., 2021); Optax's
  signature.

  With $k$ = `sync_period`: $k - 1$ adversarial steps of `adv_optimizer` (ascent: its
  updates negated), then one step of `optimizer` from the outer parameters with the
  gradient at the perturbed point. The usual SAM, `sam(sgd(lr), chain(normalize(),
  sgd(rho)))`, is

  $$
  \tilde w = w + \rho \frac{\nabla f(w)}{\|\nabla f(w)\|}, \qquad
  w \leftarrow w - \eta\, \nabla f(\tilde w).
  $$

  Transparent mode (default) spreads these over successive `update` calls;
  `opaque_mode=True` runs them inside one call with `update(..., grad_fn=grad_fn)`,
  `grad_fn(params, i)` the gradient at adversarial step `i`. `reset_state` re-initializes
  the adversarial state after each sync.

  Defaults: `sync_period=2`, `reset_state=True`, `opaque_mode=False` (Optax's
  `contrib.sam`).

  Args:
    optimizer: the outer optimizer.
    adv_optimizer: the adversarial optimizer (its updates are negated: ascent).
    sync_period: $k$, adversarial steps plus one.
    reset_state: re-initialize the adversarial state after each sync.
    opaque_mode: run all $k$ steps inside one `update` (needs `grad_fn=`).
    batch_axis_name: the axis name to average gradients over in opaque mode.
  """
  return SAM(optimizer, adv_optimizer, sync_period, reset_state, opaque_mode, batch_axis_name)
