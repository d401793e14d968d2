"""Unit-wise clipping: adaptive gradient clipping (AGC) by the parameters' norms."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import EmptyState, StatelessTransformation
from gradtx.numerics.ops import abs_sq, compute_dtype, hyper, map_leaves
from gradtx.primitives.decay.weight_decay import require_params

__all__ = [
  "AdaptiveGradClip",
  "AdaptiveGradClipState",
  "ClipState",
  "adaptive_grad_clip",
  "unitwise_clip",
  "unitwise_norm",
]

AdaptiveGradClipState = EmptyState  # Optax's name for the (empty) state
ClipState = EmptyState  # Optax's name for `clip`'s (empty) state

# Axes a unit's norm runs over, by rank (Optax's conventions): a vector is one unit;
# a (multi-head) linear kernel `[in, out]` / `[in, heads, out]` has one unit per
# output, the sum over axis 0; HWIO / DHWIO convolution kernels sum over all but O.
_DEFAULT_AXES = {2: (0,), 3: (0,), 4: (0, 1, 2), 5: (0, 1, 2, 3)}


def unitwise_norm(x: Any, axis: int | tuple[int, ...] | None = None) -> jax.Array:
  """The L2 norm of each unit of `x`, broadcast back to `x`'s shape.

  A unit is a slice along `axis`; by default the whole of a scalar or vector
  (also one with size-1 axes), axis 0 of a rank-2 or rank-3 leaf, axes
  `(0, 1, 2)` of a rank-4 and `(0, 1, 2, 3)` of a rank-5 leaf. Other ranks need
  `axis`.
  """
  x = jnp.asarray(x)
  if axis is None:
    if jnp.squeeze(x).ndim <= 1:
      axis = tuple(range(x.ndim))
    elif x.ndim in _DEFAULT_AXES:
      axis = _DEFAULT_AXES[x.ndim]
    else:
      raise ValueError(
        f"unitwise_norm: expected a leaf of rank 1 to 5, got shape {x.shape}; "
        "pass axis= to name the axes a unit's norm runs over."
      )
  return jnp.broadcast_to(jnp.sqrt(jnp.sum(abs_sq(x), axis=axis, keepdims=True)), x.shape)


def unitwise_clip(g_norm: Any, max_norm: Any, grad: Any, div_eps: Any = 1e-6) -> jax.Array:
  """`grad` where `g_norm < max_norm`, else `grad * max_norm / max(g_norm, div_eps)`;
  the three arrays must have one shape (no broadcasting)."""
  shapes = {
    name: jnp.shape(a) for name, a in (("g_norm", g_norm), ("max_norm", max_norm), ("grad", grad))
  }
  if len(set(shapes.values())) != 1:
    raise ValueError(
      f"unitwise_clip: g_norm, max_norm and grad must have the same shape; got {shapes}."
    )
  clipped = grad * (max_norm / jnp.maximum(g_norm, div_eps))
  return jnp.where(g_norm < max_norm, grad, clipped)


class AdaptiveGradClip(StatelessTransformation):
  """Adaptive gradient clipping; the rule and defaults are on `adaptive_grad_clip`."""

  clipping: Any
  eps: Any = 1e-3
  axis: Any = static(default=None)

  def __post_init__(self):
    _checks.non_negative("adaptive_grad_clip", "clipping", self.clipping)
    _checks.non_negative("adaptive_grad_clip", "eps", self.eps)

  def update(self, updates, state, params=None, **extra_args):
    del extra_args
    require_params("adaptive_grad_clip", params, updates)

    def leaf(g, p):
      cdt = compute_dtype(g.dtype)
      gc = g.astype(cdt)
      g_norm = unitwise_norm(gc, self.axis)
      max_norm = hyper(self.clipping, cdt) * jnp.maximum(
        unitwise_norm(p.astype(cdt), self.axis), hyper(self.eps, cdt)
      )
      return (unitwise_clip(g_norm, max_norm, gc).astype(g.dtype),)

    return map_leaves(leaf, updates, params, n_out=1)[0], state


def adaptive_grad_clip(
  clipping: Any, eps: Any = 1e-3, axis: int | tuple[int, ...] | None = None
) -> AdaptiveGradClip:
  r"""Adaptive gradient clipping (Brock et al., 2021, NFNets, eq. 3), unit-wise.

  For each unit $i$ (see `unitwise_norm`; `axis` overrides the default units):

  $$
  G_i = \|g_i\|, \qquad W_i = \max(\|w_i\|, \epsilon), \qquad
  u_i = \begin{cases} g_i & G_i < \lambda W_i, \\
    g_i\, \lambda W_i / G_i & \text{otherwise}, \end{cases}
  $$

  with $\lambda$ = `clipping`.

  Defaults: `eps=1e-3`, `axis=None` (Optax's `adaptive_grad_clip`; the paper's
  $\epsilon$).

  Args:
    clipping: $\lambda$.
    eps: $\epsilon$, the floor of the parameters' unit norm.
    axis: the axes of a unit, or `None` for the default by rank.
  """
  return AdaptiveGradClip(clipping, eps, axis)
