"""Normalizations of the updates: gradient centralization and division by the global norm."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.protocol import StatelessTransformation
from gradtx.core.validate import check_arrays
from gradtx.numerics.ops import compute_dtype, scalar_dtype
from gradtx.primitives.clipping.clipping import global_norm
from gradtx.primitives.scaling.scaling import scale_leaves

__all__ = ["Centralize", "centralize", "NormalizeByUpdateNorm", "normalize_by_update_norm"]


class Centralize(StatelessTransformation):
  """Gradient centralization (Yong et al., 2020): for a leaf of rank >= 2,
  `u = g - mean(g over all axes but the first)`; vectors and scalars pass unchanged."""

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    check_arrays(updates, "updates", inexact=True)

    def leaf(g):
      if g.ndim < 2:
        return g
      gc = g.astype(compute_dtype(g.dtype))
      return (gc - jnp.mean(gc, axis=tuple(range(1, g.ndim)), keepdims=True)).astype(g.dtype)

    return jax.tree.map(leaf, updates), state


class NormalizeByUpdateNorm(StatelessTransformation):
  """`u = scale_factor g / (||g|| + eps)`, `||g||` the global norm of all updates
  (one scalar per step). Defaults as Optax: `scale_factor=1`, `eps=1e-6`."""

  scale_factor: Any = 1.0
  eps: Any = 1e-6

  def __post_init__(self):
    _checks.non_negative("normalize_by_update_norm", "eps", self.eps)

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    check_arrays(updates, "updates", inexact=True)
    dt = scalar_dtype()
    factor = jnp.asarray(self.scale_factor, dt) / (global_norm(updates) + jnp.asarray(self.eps, dt))
    return scale_leaves(updates, factor), state


def centralize() -> Centralize:
  r"""Gradient centralization (Yong et al., 2020).

  $$
  u_t = g_t - \operatorname{mean}_{\text{axes} \ne 0}(g_t)
  $$

  for a leaf of rank $\ge 2$ (the mean over all axes but the first, broadcast back);
  vectors and scalars pass unchanged.

  Defaults: none (no arguments; Optax's `centralize`).
  """
  return Centralize()


def normalize_by_update_norm(scale_factor: Any = 1.0, eps: Any = 1e-6) -> NormalizeByUpdateNorm:
  r"""Divides the updates by their global norm.

  $$
  u_t = \frac{s\, g_t}{\|g_t\|_2 + \epsilon},
  $$

  with $\|g_t\|_2$ the global norm of all updates (one scalar per step) and $s$ =
  `scale_factor`.

  Defaults: `scale_factor=1`, `eps=1e-6` (Optax's `normalize_by_update_norm`).
  """
  return NormalizeByUpdateNorm(scale_factor, eps)
