"""Trust ratio: per-block scaling by `||w|| / ||u||` (LARS, LAMB)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import StatelessTransformation
from gradtx.numerics.ops import abs_sq, compute_dtype, hyper
from gradtx.primitives.decay.weight_decay import require_params
from gradtx.tree_utils import masks as _masks

__all__ = ["ScaleByTrustRatio", "scale_by_trust_ratio"]


def block_norm(x: jax.Array, min_norm: jax.Array) -> jax.Array:
  """`max(||x||_2, min_norm)` over the whole leaf (Frobenius norm for a matrix)."""
  return jnp.maximum(jnp.sqrt(jnp.sum(abs_sq(x))), min_norm)


class ScaleByTrustRatio(StatelessTransformation):
  """Layer-wise trust ratio; the rule and defaults are on `scale_by_trust_ratio`."""

  min_norm: Any = 0.0
  trust_coefficient: Any = 1.0
  eps: Any = 0.0
  mask: Any = static(default=None)

  def __post_init__(self):
    _checks.non_negative("scale_by_trust_ratio", "min_norm", self.min_norm)
    _checks.non_negative("scale_by_trust_ratio", "eps", self.eps)
    object.__setattr__(self, "mask", _masks.freeze(self.mask))

  def update(self, updates, state, params=None, **extra_args):
    del extra_args
    require_params("scale_by_trust_ratio", params)
    selected = _masks.resolve(self.mask, updates)

    def leaf(g, p, on):
      if not on or g is None:
        return g
      cdt = compute_dtype(g.dtype)
      gc, pc = g.astype(cdt), p.astype(cdt)
      min_norm = hyper(self.min_norm, cdt)
      p_norm, g_norm = block_norm(pc, min_norm), block_norm(gc, min_norm)
      zero = (p_norm == 0) | (g_norm == 0)
      denom = jnp.where(zero, 1.0, g_norm + hyper(self.eps, cdt))
      ratio = jnp.where(zero, 1.0, hyper(self.trust_coefficient, cdt) * p_norm / denom)
      return (gc * ratio).astype(g.dtype)

    updates = jax.tree.map(leaf, updates, params, selected, is_leaf=lambda x: x is None)
    return updates, state


def scale_by_trust_ratio(
  min_norm: Any = 0.0, trust_coefficient: Any = 1.0, eps: Any = 0.0, *, mask: Any = None
) -> ScaleByTrustRatio:
  r"""Scales each leaf's update by its trust ratio (You et al., 2017, LARS; 2019, LAMB).

  Per leaf (a block), with $\|\cdot\|$ the Frobenius norm and $\nu$ = `min_norm`:

  $$
  p = \max(\|w\|, \nu), \qquad q = \max(\|g_t\|, \nu), \qquad
  u_t = \frac{c\, p}{q + \epsilon}\, g_t,
  $$

  with $c$ = `trust_coefficient`, and $u_t = g_t$ where $p$ or $q$ is 0. `mask` (a tree
  of bools like the params, a prefix of it, or a function of the updates) selects the
  leaves scaled; the others pass unchanged.

  Defaults: `min_norm=0`, `trust_coefficient=1`, `eps=0` (Optax's
  `scale_by_trust_ratio`).

  Args:
    min_norm: $\nu$, the floor of both norms.
    trust_coefficient: $c$.
    eps: $\epsilon$, added to the update's norm.
    mask: the leaves scaled; all by default.
  """
  return ScaleByTrustRatio(min_norm, trust_coefficient, eps, mask)
