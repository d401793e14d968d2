"""Scaling by the parameters' block norms: `scale_by_param_block_norm` and Fromage's step."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.protocol import EmptyState, GradientTransformation, StatelessTransformation
from gradtx.numerics.ops import (
  compute_dtype,
  hyper,
  map_leaves,
  safe_increment,
  scalar_dtype,
  zero_count,
)
from gradtx.primitives.decay.weight_decay import require_params
from gradtx.primitives.scaling.scaling import ScaleByLearningRateState, evaluate
from gradtx.primitives.scaling.trust_ratio import block_norm

__all__ = [
  "ScaleByParamBlockNorm",
  "scale_by_param_block_norm",
  "FromageStep",
  "fromage_step",
  "ScaleState",
  "ScaleByTrustRatioState",
]

ScaleState = EmptyState  # Optax's name for `scale`'s (empty) state
ScaleByTrustRatioState = EmptyState  # Optax's name for `scale_by_trust_ratio`'s (empty) state


class ScaleByParamBlockNorm(StatelessTransformation):
  """Scaling by the parameter's block norm; the rule is on `scale_by_param_block_norm`."""

  min_scale: Any = 1e-3

  def __post_init__(self):
    _checks.non_negative("scale_by_param_block_norm", "min_scale", self.min_scale)

  def update(self, updates, state, params=None, **extra_args):
    del extra_args
    require_params("scale_by_param_block_norm", params, updates)

    def leaf(g, p):
      cdt = compute_dtype(g.dtype)
      return (
        (g.astype(cdt) * block_norm(p.astype(cdt), hyper(self.min_scale, cdt))).astype(g.dtype),
      )

    return map_leaves(leaf, updates, params, n_out=1)[0], state


class FromageStep(GradientTransformation):
  """Fromage's descent-and-shrink step; the rule is on `fromage_step`."""

  learning_rate: Any

  def init(self, params):
    del params
    return ScaleByLearningRateState(zero_count(), jnp.zeros([], scalar_dtype()))

  def update(self, updates, state, params=None, **extra_args):
    del extra_args
    require_params("fromage", params, updates)
    lr = evaluate(self.learning_rate, state.count)
    shrink = jax.lax.rsqrt(1 + lr * lr)

    def leaf(r, p):
      cdt = compute_dtype(r.dtype)
      c = hyper(shrink, cdt)
      u = -(hyper(lr, cdt) * c) * r.astype(cdt) + (c - 1) * p.astype(cdt)
      return (u.astype(r.dtype),)

    updates = map_leaves(leaf, updates, params, n_out=1)[0]
    return updates, ScaleByLearningRateState(safe_increment(state.count), lr)


def scale_by_param_block_norm(min_scale: Any = 1e-3) -> ScaleByParamBlockNorm:
  r"""Scales each leaf's update by its parameter's norm.

  $$
  u_t = \max(\|w\|_2, s_{\min})\, g_t,
  $$

  per leaf (a block), $\|w\|_2$ its Frobenius norm and $s_{\min}$ = `min_scale`.

  Defaults: `min_scale=1e-3` (Optax's `scale_by_param_block_norm`).
  """
  return ScaleByParamBlockNorm(min_scale)


def fromage_step(learning_rate: Any) -> FromageStep:
  r"""Fromage's step after the trust ratio (Bernstein et al., 2020, Algorithm 1).

  For the (trust-ratio scaled) update $r_t$ and $\eta = $ `learning_rate` at the count
  of updates done before this one:

  $$
  u_t = \frac{w_{t-1} - \eta\, r_t}{\sqrt{1 + \eta^2}} - w_{t-1}, \qquad\text{so}\qquad
  w_t = \frac{w_{t-1} - \eta\, r_t}{\sqrt{1 + \eta^2}}.
  $$

  The rate used is in the state, as for `scale_by_learning_rate`.

  Defaults: none (`learning_rate` is required).
  """
  return FromageStep(learning_rate)
