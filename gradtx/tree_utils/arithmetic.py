"""Leafwise arithmetic on trees (Optax's `tree_add`, `tree_sub`, `tree_mul`, `tree_div`,
`tree_scale`, `tree_add_scale`, `tree_where`, `tree_conj`, `tree_real`, `tree_clip`).

Binary operations need trees of one structure and one shape per leaf: a
mismatch is a `TreeMismatchError` naming the leaf path (no silent
broadcasting). Python numbers are 0-d leaves.
"""

from __future__ import annotations

import functools
import operator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradtx.numerics.leafwise import tree_map_like

__all__ = [
  "tree_add",
  "tree_sub",
  "tree_mul",
  "tree_div",
  "tree_scale",
  "tree_add_scale",
  "tree_where",
  "tree_conj",
  "tree_real",
  "tree_clip",
]


def tree_add(tree_x: Any, tree_y: Any, *other_trees: Any) -> Any:
  """`x + y (+ ...)`, leafwise, for two or more trees."""
  trees = (tree_x, tree_y, *other_trees)
  names = ("tree_x", "tree_y", *(f"other_trees[{i}]" for i in range(len(other_trees))))
  return tree_map_like(lambda *xs: functools.reduce(operator.add, xs), names, trees)


def tree_sub(tree_x: Any, tree_y: Any) -> Any:
  """`x - y`, leafwise."""
  return tree_map_like(operator.sub, ("tree_x", "tree_y"), (tree_x, tree_y))


def tree_mul(tree_x: Any, tree_y: Any) -> Any:
  """`x * y`, leafwise."""
  return tree_map_like(operator.mul, ("tree_x", "tree_y"), (tree_x, tree_y))


def tree_div(tree_x: Any, tree_y: Any) -> Any:
  """`x / y`, leafwise."""
  return tree_map_like(operator.truediv, ("tree_x", "tree_y"), (tree_x, tree_y))


def _check_scalar(owner: str, name: str, value: Any) -> None:
  if np.ndim(value) != 0:
    raise ValueError(f"{owner}: {name} must be a scalar; got shape {np.shape(value)}.")


def tree_scale(scalar: jax.typing.ArrayLike, tree: Any) -> Any:
  """`scalar * x`, leafwise, for a scalar (0-d) `scalar`."""
  _check_scalar("tree_scale", "scalar", scalar)
  return jax.tree.map(lambda x: scalar * x, tree)


def tree_add_scale(tree_x: Any, scalar: jax.typing.ArrayLike, tree_y: Any) -> Any:
  """`x + scalar * y`, leafwise; a `None` leaf of `tree_x` stays `None`."""
  _check_scalar("tree_add_scale", "scalar", scalar)
  scalar = jnp.asarray(scalar)
  return tree_map_like(
    lambda x, y: x + scalar * y, ("tree_x", "tree_y"), (tree_x, tree_y), none_leaf=True
  )


def tree_where(condition: Any, tree_x: Any, tree_y: Any) -> Any:
  """`x` where `condition`, else `y`, leafwise (`jnp.where` with one `condition`,
  typically a scalar bool, for every leaf)."""
  return tree_map_like(
    lambda x, y: jnp.where(condition, x, y), ("tree_x", "tree_y"), (tree_x, tree_y)
  )


def tree_conj(tree: Any) -> Any:
  """Complex conjugate of every leaf (real leaves unchanged)."""
  return jax.tree.map(jnp.conj, tree)


def tree_real(tree: Any) -> Any:
  """Real part of every leaf."""
  return jax.tree.map(jnp.real, tree)


def tree_clip(
  tree: Any,
  min_value: jax.typing.ArrayLike | None = None,
  max_value: jax.typing.ArrayLike | None = None,
) -> Any:
  """Every leaf clipped to `[min_value, max_value]` (`None`: no bound on that side)."""
  return jax.tree.map(lambda x: jnp.clip(x, min_value, max_value), tree)
