"""Dtypes of trees (Optax's `tree_cast`, `tree_cast_like`, `tree_dtype`)."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax.tree_util import keystr

from gradtx.numerics.leafwise import tree_map_like

__all__ = ["tree_cast", "tree_cast_like", "tree_dtype"]


def tree_cast(tree: Any, dtype: jax.typing.DTypeLike | None) -> Any:
  """Every leaf cast to `dtype`; the tree unchanged when `dtype` is None."""
  if dtype is None:
    return tree
  return jax.tree.map(lambda x: x.astype(dtype), tree)


def tree_cast_like(tree: Any, other_tree: Any) -> Any:
  """Every leaf cast to the dtype of the matching leaf of `other_tree` (leaves of
  `other_tree` without a dtype leave theirs unchanged)."""
  return tree_map_like(
    lambda x, o: x.astype(o.dtype) if hasattr(o, "dtype") else x,
    ("tree", "other_tree"),
    (tree, other_tree),
    shapes=False,
  )


def _lower(a: Any, b: Any) -> Any:
  """The lower of two dtypes in JAX's promotion order; an error if neither promotes to the
  other."""
  joined = jnp.promote_types(a, b)
  if joined == a:
    return b
  if joined == b:
    return a
  raise ValueError(
    f"tree_dtype: dtypes {jnp.dtype(a)} and {jnp.dtype(b)} are not ordered: "
    "neither promotes to the other."
  )


def _higher(a: Any, b: Any) -> Any:
  return b if _lower(a, b) == a else a


def tree_dtype(tree: Any, mixed_dtype_handler: str | None = None) -> jax.typing.DTypeLike:
  """The dtype of the tree's leaves (JAX's default float dtype for an empty tree).

  `mixed_dtype_handler`: None (all leaves must share one dtype; else a
  ValueError naming each differing leaf), `'promote'` (their promoted dtype),
  `'highest'` / `'lowest'` (extremes in the promotion order; an error for
  unordered dtypes such as int32 and uint32).
  """
  pairs = jax.tree_util.tree_leaves_with_path(tree)
  if not pairs:
    return jnp.asarray([]).dtype
  dtypes = [jnp.asarray(x).dtype for _, x in pairs]
  if mixed_dtype_handler is None:
    wrong = [
      f"leaf {keystr(p) or '<root>'} has dtype {d}, expected {dtypes[0]}"
      for (p, _), d in zip(pairs, dtypes)
      if d != dtypes[0]
    ]
    if wrong:
      raise ValueError(
        "tree_dtype: leaves of mixed dtypes (pass mixed_dtype_handler="
        "'promote', 'highest' or 'lowest'): " + "; ".join(wrong) + "."
      )
    return dtypes[0]
  combine = {"promote": jnp.promote_types, "highest": _higher, "lowest": _lower}.get(
    mixed_dtype_handler
  )
  if combine is None:
    raise ValueError(
      f"tree_dtype: mixed_dtype_handler={mixed_dtype_handler!r} is invalid; "
      "expected None, 'promote', 'highest' or 'lowest'."
    )
  return functools.reduce(combine, dtypes)
