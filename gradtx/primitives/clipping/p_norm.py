"""Clipping by the global p-norm of all updates, with an optional eps on the norm."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import cast, compute_dtype, join_small_leaves, scalar_dtype
from gradtx.primitives.clipping.clipping import ClipByGlobalNormState, global_norm
from gradtx.primitives.scaling.scaling import scale_leaves

__all__ = ["ClipByGlobalPNorm", "clip_by_global_p_norm", "global_p_norm"]


def global_p_norm(tree: Any, norm_type: float) -> jax.Array:
  """`(sum over all leaves of |x|^p)^(1/p)`; `max |x|` for `p = inf`; `p = 2` is `global_norm`."""
  if norm_type == 2.0:
    return global_norm(tree)
  leaves = [jnp.asarray(x) for x in jax.tree.leaves(tree)]
  parts = join_small_leaves([cast(x, compute_dtype(x.dtype)) for x in leaves])
  zero = jnp.zeros([], scalar_dtype())
  if math.isinf(norm_type):
    maxima = [jnp.max(jnp.abs(x)).astype(scalar_dtype()) for x in parts if x.size]
    return jnp.max(jnp.stack(maxima)) if maxima else zero
  total = sum((jnp.sum(jnp.abs(x) ** norm_type).astype(scalar_dtype()) for x in parts), zero)
  return total ** (1.0 / norm_type)


class ClipByGlobalPNorm(GradientTransformation):
  """`n = ||g||_p` over all leaves; `u = g * min(1, max_norm / (n + eps))`.

  With `norm_type=2`, `eps=0` this is `clip_by_global_norm`; `eps=1e-6` is
  PyTorch's `clip_grad_norm_`. The norm and factor are kept in the state
  (`ClipByGlobalNormState`) for logging.
  """

  max_norm: Any
  norm_type: float = static(default=2.0)
  eps: Any = 0.0

  def __post_init__(self):
    _checks.non_negative("clip_by_global_p_norm", "max_norm", self.max_norm)
    _checks.non_negative("clip_by_global_p_norm", "eps", self.eps)
    if not float(self.norm_type) > 0:
      raise ValueError(
        f"clip_by_global_p_norm: norm_type={self.norm_type!r} is invalid; "
        "expected a value > 0 or inf."
      )

  def init(self, params):
    del params
    zero = jnp.zeros([], scalar_dtype())
    return ClipByGlobalNormState(zero, zero + 1)

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    norm = global_p_norm(updates, float(self.norm_type))
    dt = scalar_dtype()
    factor = jnp.minimum(1.0, jnp.asarray(self.max_norm, dt) / (norm + jnp.asarray(self.eps, dt)))
    return scale_leaves(updates, factor), ClipByGlobalNormState(norm, factor)


def clip_by_global_p_norm(
  max_norm: Any, norm_type: float = 2.0, eps: Any = 0.0
) -> ClipByGlobalPNorm:
  r"""Rescales updates so that their global $p$-norm (plus `eps`) is at most `max_norm`.

  $$
  n_t = \Big(\sum_{\text{leaves}} \sum |g_t|^p\Big)^{1/p} \quad
  (\max |g_t| \text{ for } p = \infty), \qquad
  u_t = g_t \min\Big(1, \frac{c}{n_t + \epsilon}\Big),
  $$

  with $p$ = `norm_type` and $c$ = `max_norm`. With $p = 2$, $\epsilon = 0$ this is
  `clip_by_global_norm`; $\epsilon = 10^{-6}$ is PyTorch's `clip_grad_norm_`. The norm and
  factor are kept in the state (`ClipByGlobalNormState`).

  Defaults: `norm_type=2`, `eps=0` (as Optax's `clip_by_global_norm`; PyTorch's
  `clip_grad_norm_` uses `norm_type=2` with `eps=1e-6`).

  Args:
    max_norm: $c$.
    norm_type: $p$ (`float("inf")` for the max norm).
    eps: $\epsilon$, added to the norm.
  """
  return ClipByGlobalPNorm(max_norm, float(norm_type), eps)
