"""Clipping: elementwise (`clip`) and by the global norm of all updates."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.protocol import GradientTransformation, StatelessTransformation
from gradtx.numerics.ops import abs_sq, cast, compute_dtype, hyper, join_small_leaves, scalar_dtype
from gradtx.primitives.scaling.scaling import scale_leaves

__all__ = [
  "Clip",
  "ClipByGlobalNorm",
  "ClipByGlobalNormState",
  "clip",
  "clip_by_global_norm",
  "global_norm",
]


class Clip(StatelessTransformation):
  """`u = clip(g, -max_delta, max_delta)`, elementwise."""

  max_delta: Any

  def __post_init__(self):
    _checks.positive("clip", "max_delta", self.max_delta)

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args

    def leaf(g):
      d = hyper(self.max_delta, compute_dtype(g.dtype))
      return jnp.clip(g.astype(d.dtype), -d, d).astype(g.dtype)

    return jax.tree.map(leaf, updates), state


def global_norm(tree: Any) -> jax.Array:
  """`sqrt(sum over all leaves of |x|^2)`, accumulated in at least float32.

  On a single device the small leaves are reduced together by one kernel
  (`join_small_leaves`): 1000 small leaves compile and launch one reduction,
  not 1000.
  """
  leaves = [jnp.asarray(x) for x in jax.tree.leaves(tree)]
  parts = join_small_leaves([cast(x, compute_dtype(x.dtype)) for x in leaves])
  total = sum(
    (jnp.sum(abs_sq(x)).astype(scalar_dtype()) for x in parts), jnp.zeros([], scalar_dtype())
  )
  return jnp.sqrt(total)


class ClipByGlobalNormState(NamedTuple):
  """`grad_norm`: the last step's global norm; `clip_scale`: the factor applied (1 if not clipped)."""

  grad_norm: jax.Array
  clip_scale: jax.Array
  _hyperparams = ("grad_norm", "clip_scale")


class ClipByGlobalNorm(GradientTransformation):
  """`n = ||g||_2` over all leaves; `u = g * min(1, max_norm / n)`.

  (Pascanu et al., 2013: the remedy for exploding gradients.) The norm and the
  factor are scalars computed once per step and kept in the state for logging.
  Under sharding the norm is a global reduction, so it is correct across shards.
  """

  max_norm: Any

  def __post_init__(self):
    _checks.positive("clip_by_global_norm", "max_norm", self.max_norm)

  def init(self, params):
    del params
    zero = jnp.zeros([], scalar_dtype())
    return ClipByGlobalNormState(zero, zero + 1)

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    norm = global_norm(updates)
    max_norm = jnp.asarray(self.max_norm, scalar_dtype())
    factor = max_norm / jnp.maximum(norm, max_norm)  # 1 if norm <= max_norm; NaN stays NaN
    return scale_leaves(updates, factor), ClipByGlobalNormState(norm, factor)


def clip(max_delta: Any) -> Clip:
  r"""Clips every element of the updates to `[-max_delta, max_delta]`.

  $$
  u_t = \operatorname{clip}(g_t, -\delta, \delta), \qquad \delta = \text{max\_delta},
  $$

  elementwise.

  Defaults: none (`max_delta` is required; Optax's `clip`).
  """
  return Clip(max_delta)


def clip_by_global_norm(max_norm: Any) -> ClipByGlobalNorm:
  r"""Rescales the updates so that their global norm is at most `max_norm` (Pascanu et
  al., 2013: the remedy for exploding gradients).

  $$
  n_t = \|g_t\|_2 = \Big(\sum_{\text{leaves}} \sum |g_t|^2\Big)^{1/2}, \qquad
  u_t = g_t \min\Big(1, \frac{c}{n_t}\Big),
  $$

  with $c$ = `max_norm`. The norm and the factor are scalars computed once per step and
  kept in the state (`ClipByGlobalNormState`) for logging; under sharding the norm is a
  global reduction.

  Defaults: none (`max_norm` is required; Optax's `clip_by_global_norm`).
  """
  return ClipByGlobalNorm(max_norm)
