"""Reductions of whole trees to scalars (Optax's `tree_vdot`, `tree_sum`, `tree_max`,
`tree_min`, `tree_size`, `tree_norm`, `tree_allclose`).

Sums, maxima and norms reduce the small leaves of each dtype joined into one
vector (`join_small_leaves`): one kernel for a thousand small leaves.
"""

from __future__ import annotations

import functools
import operator
from typing import Any

import jax
import jax.numpy as jnp

from gradtx.numerics.leafwise import flatten_like
from gradtx.numerics.ops import abs_sq, join_small_leaves

__all__ = [
  "tree_vdot",
  "tree_sum",
  "tree_max",
  "tree_min",
  "tree_size",
  "tree_norm",
  "tree_allclose",
]


def _arrays(tree: Any) -> list[jax.Array]:
  return [jnp.asarray(x) for x in jax.tree.leaves(tree)]


def _vdot(a: jax.Array, b: jax.Array) -> jax.Array:
  """`sum(conj(a) * b)` at the highest matmul precision."""
  return jnp.vdot(a, b, precision=jax.lax.Precision.HIGHEST)


def tree_vdot(tree_x: Any, tree_y: Any) -> jax.typing.ArrayLike:
  """`<x, y> = sum over leaves of sum(conj(x) * y)`; 0 for an empty tree."""
  _, (xs, ys) = flatten_like(("tree_x", "tree_y"), (tree_x, tree_y))
  return sum(map(_vdot, xs, ys), 0)


def _sum_leaves(leaves: list[jax.Array], associative: bool = False) -> jax.typing.ArrayLike:
  sums = [jnp.sum(x) for x in join_small_leaves(leaves)]
  if associative:
    while len(sums) > 1:  # a balanced tree of additions
      pairs = [sums[i] + sums[i + 1] for i in range(0, len(sums) - 1, 2)]
      sums = pairs + ([sums[-1]] if len(sums) % 2 else [])
  return sum(sums, 0)


def tree_sum(tree: Any, associative_reduction: bool = False) -> jax.typing.ArrayLike:
  """Sum of all elements of all leaves; 0 for an empty tree.

  `associative_reduction=True` adds the per-leaf sums as a balanced tree
  (Optax's option; the order of summation, not the value, changes).
  """
  return _sum_leaves(_arrays(tree), associative_reduction)


def _extremum(tree: Any, reduce_fn: Any, combine: Any, start: float) -> jax.typing.ArrayLike:
  leaves = [x for x in _arrays(tree) if x.size]
  values = [reduce_fn(x) for x in join_small_leaves(leaves)]
  return functools.reduce(combine, values, start)


def tree_max(tree: Any) -> jax.typing.ArrayLike:
  """Largest element over all leaves (empty leaves ignored; `-inf` for an empty tree)."""
  return _extremum(tree, jnp.max, jnp.maximum, -float("inf"))


def tree_min(tree: Any) -> jax.typing.ArrayLike:
  """Smallest element over all leaves (empty leaves ignored; `inf` for an empty tree)."""
  return _extremum(tree, jnp.min, jnp.minimum, float("inf"))


def tree_size(tree: Any) -> int:
  """Total number of elements over all leaves."""
  return sum(jnp.size(x) for x in jax.tree.leaves(tree))


def tree_norm(
  tree: Any,
  ord: int | str | float | None = None,  # pylint: disable=redefined-builtin
  squared: bool = False,
) -> jax.Array:
  """The vector norm of all leaves taken together.

  `ord`: None or 2 (`sqrt(sum |x|^2)`), 1 (`sum |x|`), `inf` / `'inf'` /
  `'infinity'` (`max |x|`). `squared=True` returns the norm squared.
  """
  leaves = _arrays(tree)
  if ord is None or ord == 2:
    sq = _sum_leaves([abs_sq(x) for x in leaves])
    return jnp.asarray(sq if squared else jnp.sqrt(sq))
  if ord == 1:
    value = _sum_leaves([jnp.abs(x) for x in leaves])
  elif ord in ("inf", "infinity") or ord == float("inf"):
    value = tree_max([jnp.abs(x) for x in leaves])
  else:
    raise ValueError(f"tree_norm: ord={ord!r} is not supported; expected None, 1, 2 or inf.")
  value = jnp.asarray(value)
  return abs_sq(value) if squared else value


def tree_allclose(
  a: Any,
  b: Any,
  rtol: jax.typing.ArrayLike = 1e-05,
  atol: jax.typing.ArrayLike = 1e-08,
  equal_nan: bool = False,
) -> Any:
  """`jnp.allclose` on every pair of leaves, all of them true (True for empty trees)."""
  _, (xs, ys) = flatten_like(("a", "b"), (a, b))
  checks = [jnp.allclose(x, y, rtol=rtol, atol=atol, equal_nan=equal_nan) for x, y in zip(xs, ys)]
  return functools.reduce(operator.and_, checks, True)
