"""Random trees (Optax's `tree_split_key_like`, `tree_random_like`,
`tree_unwrap_random_key_data`)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["tree_split_key_like", "tree_random_like", "tree_unwrap_random_key_data"]


def tree_split_key_like(rng_key: jax.Array, target_tree: Any) -> Any:
  """`rng_key` split into one key per leaf of `target_tree`, in a tree of its structure."""
  treedef = jax.tree.structure(target_tree)
  return jax.tree.unflatten(treedef, list(jax.random.split(rng_key, treedef.num_leaves)))


def _takes_sharding(sampler: Callable[..., Any]) -> bool:
  try:
    return "out_sharding" in inspect.signature(sampler).parameters
  except (TypeError, ValueError):  # builtins without a signature
    return False


def tree_random_like(
  rng_key: jax.Array,
  target_tree: Any,
  sampler: Callable[..., jax.typing.ArrayLike] = jax.random.normal,
  dtype: jax.typing.DTypeLike | None = None,
) -> Any:
  """A tree like `target_tree` whose leaves are `sampler(key, leaf.shape, dtype)`, one
  independent key per leaf (from `tree_split_key_like`).

  `dtype` defaults to each leaf's dtype. A sampler that takes `out_sharding`
  (as `jax.random.normal` does) gets the leaf's sharding.
  """
  keys = tree_split_key_like(rng_key, target_tree)
  with_sharding = _takes_sharding(sampler)

  def leaf(x, key):
    dt = dtype or x.dtype
    if with_sharding:
      return sampler(key, x.shape, dt, out_sharding=jax.typeof(x).sharding)
    return sampler(key, x.shape, dt)

  return jax.tree.map(leaf, target_tree, keys)


def tree_unwrap_random_key_data(input_tree: Any) -> Any:
  """Typed PRNG keys (`jax.random.key`) replaced by their raw `key_data`, so trees holding
  keys can be compared numerically; other leaves unchanged."""

  def leaf(x):
    if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
      return jax.random.key_data(x)
    return x

  return jax.tree.map(leaf, input_tree)
