"""Trees shaped like a tree (Optax's `tree_zeros_like`, `tree_ones_like`, `tree_full_like`,
`tree_batch_shape`)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["tree_zeros_like", "tree_ones_like", "tree_full_like", "tree_batch_shape"]


def tree_zeros_like(tree: Any, dtype: jax.typing.DTypeLike | None = None) -> Any:
  """Zeros shaped like every leaf, in `dtype` or the leaf's dtype."""
  return jax.tree.map(lambda x: jnp.zeros_like(x, dtype=dtype), tree)


def tree_ones_like(tree: Any, dtype: jax.typing.DTypeLike | None = None) -> Any:
  """Ones shaped like every leaf, in `dtype` or the leaf's dtype."""
  return jax.tree.map(lambda x: jnp.ones_like(x, dtype=dtype), tree)


def tree_full_like(
  tree: Any, fill_value: jax.typing.ArrayLike, dtype: jax.typing.DTypeLike | None = None
) -> Any:
  """`fill_value` shaped like every leaf, in `dtype` or the leaf's dtype."""
  return jax.tree.map(lambda x: jnp.full_like(x, fill_value, dtype=dtype), tree)


def tree_batch_shape(tree: Any, shape: tuple[int, ...] = ()) -> Any:
  """Every leaf broadcast to `(*shape, *leaf.shape)`: leading batch axes added."""
  shape = tuple(shape)
  return jax.tree.map(lambda x: jnp.broadcast_to(x, (*shape, *jnp.shape(x))), tree)
