"""Projections onto boxes: `argmin_p ||x - p||^2` subject to elementwise bounds
(Optax's `projection_non_negative`, `projection_box`, `projection_hypercube`,
`projection_linf_ball`)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx.numerics.leafwise import tree_map_like

__all__ = [
  "projection_non_negative",
  "projection_box",
  "projection_hypercube",
  "projection_linf_ball",
]


def projection_non_negative(tree: Any) -> Any:
  """`p = max(x, 0)` leafwise: the projection onto `p >= 0`."""
  return jax.tree.map(jax.nn.relu, tree)


def projection_box(tree: Any, lower: Any, upper: Any) -> Any:
  """`p = clip(x, lower, upper)` leafwise: the projection onto `lower <= p <= upper`.

  `lower` and `upper` are scalars or trees of `tree`'s structure (a tree's
  leaves broadcast against the matching leaves, as `jnp.clip` does).
  """

  def as_tree(bound):
    if jax.tree_util.treedef_is_leaf(jax.tree.structure(bound)):
      return jax.tree.map(lambda _: bound, tree)
    return bound

  return tree_map_like(
    jnp.clip, ("tree", "lower", "upper"), (tree, as_tree(lower), as_tree(upper)), shapes=False
  )


def projection_hypercube(tree: Any, scale: Any = 1) -> Any:
  """The projection onto `0 <= p <= scale` (the unit hypercube by default)."""
  return projection_box(tree, lower=0, upper=scale)


def projection_linf_ball(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
  """The projection onto `||p||_inf <= scale`: `clip(x, -scale, scale)`."""
  return projection_box(tree, lower=jnp.negative(scale), upper=scale)
