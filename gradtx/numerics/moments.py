"""Optax's public moment helpers on whole trees: exponential moving averages of powers
of the updates and their bias correction (`optax.update_moment`, ... ,
`optax.bias_correction`, also `optax.tree_utils.tree_update_moment`, ...)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx.numerics import ops
from gradtx.numerics.leafwise import tree_map_like

__all__ = [
  "update_moment",
  "update_infinity_moment",
  "update_moment_per_elem_norm",
  "bias_correction",
]

_NAMES = ("updates", "moments")


def update_moment(updates: Any, moments: Any, decay: Any, order: Any) -> Any:
  """`m <- (1 - decay) * g^order + decay * m`, leafwise (Adam's moments: order 1 and 2).

  A `None` update leaf (masked out) gives `None`. Trees must match leaf for leaf.
  """
  return tree_map_like(
    lambda g, m: (1 - decay) * (g**order) + decay * m, _NAMES, (updates, moments), none_leaf=True
  )


def update_infinity_moment(updates: Any, moments: Any, decay: Any, eps: Any) -> Any:
  """`m <- max(|g| + eps, decay * m)`, leafwise (Adamax's infinity norm)."""
  return tree_map_like(
    lambda g, m: jnp.maximum(jnp.abs(g) + eps, decay * m),
    _NAMES,
    (updates, moments),
    none_leaf=True,
  )


def _elem_norm_power(g: jax.Array, order: Any) -> jax.Array:
  """`|g|^order`; for real `g` it is `g^order` (as in Optax, so odd orders keep the sign)."""
  if jnp.isrealobj(g):
    return g**order
  half = order / 2
  if isinstance(half, float) and half.is_integer():
    half = int(half)  # an integer power lowers to multiplications
  return ops.abs_sq(g) ** half


def update_moment_per_elem_norm(updates: Any, moments: Any, decay: Any, order: Any) -> Any:
  """`m <- (1 - decay) * |g|^order + decay * m`, leafwise; `|g|` is the modulus for
  complex `g`, so the moment is real."""
  return tree_map_like(
    lambda g, m: (1 - decay) * _elem_norm_power(jnp.asarray(g), order) + decay * m,
    _NAMES,
    (updates, moments),
    none_leaf=True,
  )


def bias_correction(moment: Any, decay: Any, count: Any) -> Any:
  """`m / (1 - decay^count)`, leafwise; a no-op as `count` grows.

  `1 - decay^count` is formed once, as `-expm1(count * log(decay))` in the
  scalar dtype (float32, float64 under x64), so it neither rounds to 0 for
  `decay` near 1 nor loses digits to cancellation; it is then cast to each
  moment's dtype, so a bfloat16 moment stays bfloat16.
  """
  correction = ops.bias_correction(decay, jnp.asarray(count))
  return jax.tree.map(lambda m: m / correction.astype(jnp.result_type(m)), moment)
