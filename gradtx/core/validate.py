"""Private: trace-time checks that name the offending leaf by its tree path.

They run in Python while JAX traces (zero run-time cost under `jit`) and
raise `TreeMismatchError` / `TypeError` with the leaf's path and what was
expected. `GradientTransformation.update` prefixes the transformation's name.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import keystr

_HINT = (
  "If the tree holds non-array leaves (functions, strings, Equinox "
  "modules' static parts), filter it first, e.g. eqx.filter(tree, eqx.is_array)."
)


class TreeMismatchError(ValueError):
  """Two trees that must match leaf for leaf do not."""

  owner: str | None = None  # the transformation that named the error (`named_errors`)


class LeafTypeError(TypeError):
  """A leaf is not an array, or not of a dtype gradtx can optimize."""

  owner: str | None = None


def _path(path: tuple) -> str:
  return keystr(path) or "<root>"


def _describe(leaf: Any) -> str:
  if hasattr(leaf, "shape") and hasattr(leaf, "dtype"):
    return f"shape {tuple(leaf.shape)} {getattr(leaf.dtype, 'name', leaf.dtype)}"
  return f"a {type(leaf).__name__}"


def _dtype_of(leaf: Any) -> np.dtype | None:
  """The dtype of an array-like leaf (arrays, NumPy scalars, Python numbers), else None."""
  if isinstance(leaf, (bool, int, float, complex)):
    return np.result_type(leaf)
  dtype = getattr(leaf, "dtype", None)
  if dtype is None or not hasattr(leaf, "shape"):
    return None
  try:
    return np.dtype(dtype)
  except TypeError:  # JAX extended dtypes (PRNG keys) are not NumPy dtypes
    return dtype


def _is_inexact(dtype: Any) -> bool:
  # `jnp.issubdtype`, not `np.issubdtype`: NumPy does not count the ml_dtypes
  # types (bfloat16, float8_*) as floating point.
  return bool(jnp.issubdtype(dtype, jnp.inexact))


def check_arrays(tree: Any, what: str, *, inexact: bool = False) -> None:
  """Every leaf of `tree` is an array (floating or complex if `inexact`)."""
  for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
    dtype = _dtype_of(leaf)
    if dtype is None or dtype == np.dtype(object):
      raise LeafTypeError(f"{what} leaf {_path(path)} is {_describe(leaf)}, not an array. {_HINT}")
    if inexact and not _is_inexact(dtype):
      raise LeafTypeError(
        f"{what} leaf {_path(path)} has dtype {getattr(dtype, 'name', dtype)}; gradtx optimizes "
        "floating-point or complex arrays. Leave integer and boolean leaves out of the "
        "optimized tree (e.g. eqx.filter(tree, eqx.is_inexact_array)) or exclude them "
        "with gradtx.masked / gradtx.freeze."
      )


def check_same_structure(what_a: str, a: Any, what_b: str, b: Any, *, shapes: bool = True) -> None:
  """`a` and `b` have the same tree structure (and leaf shapes, if `shapes`), and no
  leaf is floating point on one side but integer or boolean on the other; else
  name the first differing path and what each side has."""
  leaves_a, def_a = jax.tree_util.tree_flatten_with_path(a)
  leaves_b, def_b = jax.tree_util.tree_flatten_with_path(b)
  if def_a != def_b:
    paths_a = [_path(p) for p, _ in leaves_a]
    paths_b = [_path(p) for p, _ in leaves_b]
    for i, (pa, pb) in enumerate(zip(paths_a, paths_b)):
      if pa != pb:
        raise TreeMismatchError(
          f"{what_a} and {what_b} have different tree structures: leaf #{i} is {pa} in "
          f"{what_a} but {pb} in {what_b}."
        )
    if len(paths_a) != len(paths_b):
      longer, name = (paths_a, what_a) if len(paths_a) > len(paths_b) else (paths_b, what_b)
      raise TreeMismatchError(
        f"{what_a} has {len(paths_a)} leaves and {what_b} has {len(paths_b)}: "
        f"{name} has the extra leaf {longer[min(len(paths_a), len(paths_b))]}."
      )
    raise TreeMismatchError(
      f"{what_a} and {what_b} have the same leaf paths but different node types:\n"
      f"  {what_a}: {def_a}\n  {what_b}: {def_b}"
    )
  for (path, x), (_, y) in zip(leaves_a, leaves_b):
    dx, dy = _dtype_of(x), _dtype_of(y)
    if (dx is None) != (dy is None):
      raise LeafTypeError(
        f"leaf {_path(path)} is {_describe(x)} in {what_a} but {_describe(y)} in {what_b}; "
        f"both must be arrays. {_HINT}"
      )
    if shapes and np.shape(x) != np.shape(y):
      raise TreeMismatchError(
        f"leaf {_path(path)} has {_describe(x)} in {what_a} but {_describe(y)} in "
        f"{what_b}; shapes must match (no broadcasting)."
      )
    if dx is not None and dy is not None and _is_inexact(dx) != _is_inexact(dy):
      raise TreeMismatchError(
        f"leaf {_path(path)} has {_describe(x)} in {what_a} but {_describe(y)} in "
        f"{what_b}; dtypes must both be floating point (or complex): an integer or "
        "boolean leaf cannot be combined with a floating-point one."
      )


def named_errors(method: Callable, owner: str) -> Callable:
  """Wraps `init`/`update` so their tree errors start with `owner` (innermost only)."""

  @functools.wraps(method)
  def wrapper(*args, **kwargs):
    try:
      return method(*args, **kwargs)
    except (TreeMismatchError, LeafTypeError) as error:
      if getattr(error, "owner", None):
        raise
      named = type(error)(f"{owner}.{method.__name__}: {error}")
      named.owner = owner
      raise named from None

  return wrapper
