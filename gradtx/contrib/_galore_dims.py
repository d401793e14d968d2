"""GaLore's dimension numbers: which axes of a leaf form its matrix, and how a leaf is seen
as that matrix (the `(m, n)` view and the projected side)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.contrib.muon_axes import normalize_axes
from gradtx.core.validate import TreeMismatchError

__all__ = ["GaLoreDimensionNumbers"]


class GaLoreDimensionNumbers(NamedTuple):
  """The axes of a weight that form GaLore's matrix (Optax's spec).

  `reduction_axis` (fan-in) and `output_axis` (fan-out), each an int or a sequence of
  ints (negative ints count from the end); together they must name every axis of the
  leaf, which is projected as the `(prod(reduction), prod(output))` matrix. Example:
  attention `(d_model, heads, head_dim)`: `GaLoreDimensionNumbers(0, (1, 2))`.
  """

  reduction_axis: Sequence[int] | int = 0
  output_axis: Sequence[int] | int = 1


def _is_dim_nums(x: Any) -> bool:
  """A `GaLoreDimensionNumbers`, or any NamedTuple with its two fields (Optax's class)."""
  fields = GaLoreDimensionNumbers._fields
  return isinstance(x, tuple) and getattr(x, "_fields", None) == fields


def _is_spec(x: Any) -> bool:
  return x is None or _is_dim_nums(x)


def _hashable(spec: GaLoreDimensionNumbers) -> GaLoreDimensionNumbers:
  tup = lambda axes: axes if isinstance(axes, int) else tuple(axes)
  return GaLoreDimensionNumbers(tup(spec.reduction_axis), tup(spec.output_axis))


class _Specs:
  """Hashable, static holder of `weight_dimension_numbers`: None, one spec, a tree (or
  prefix tree) of specs and None, or a callable `params -> such a tree`."""

  __slots__ = ("fn", "leaves", "single", "treedef")

  def __init__(self, value: Any) -> None:
    self.fn = self.leaves = self.treedef = self.single = None
    if _is_dim_nums(value):
      self.single = _hashable(value)
    elif callable(value):
      self.fn = value
    elif value is not None:
      leaves, self.treedef = jax.tree.flatten(value, is_leaf=_is_spec)
      for leaf in leaves:
        if not _is_spec(leaf):
          raise TypeError(
            f"galore: weight_dimension_numbers holds {leaf!r}; expected a tree of "
            "GaLoreDimensionNumbers and None, one GaLoreDimensionNumbers, a callable or None."
          )
      self.leaves = tuple(None if x is None else _hashable(x) for x in leaves)

  def _key(self) -> tuple:
    return (self.fn, self.leaves, self.single, self.treedef)

  def __eq__(self, other: object) -> bool:
    return isinstance(other, _Specs) and self._key() == other._key()

  def __hash__(self) -> int:
    return hash(self._key())

  def __repr__(self) -> str:
    if self.treedef is None:
      return repr(self.fn or self.single)
    return repr(self._tree())

  def _tree(self) -> Any:
    assert self.leaves is not None, "specs given as a function or a single spec store no tree"
    return jax.tree.unflatten(self.treedef, self.leaves)

  def resolve(self, tree: Any) -> list:
    """`(path, leaf, spec or None)` per leaf of `tree`."""
    pairs = jax.tree_util.tree_flatten_with_path(tree)[0]
    if self.fn is None and self.treedef is None:
      default = self.single or GaLoreDimensionNumbers()
      wanted = (lambda nd: nd >= 2) if self.single is not None else (lambda nd: nd == 2)
      return [(p, x, default if wanted(jnp.ndim(x)) else None) for p, x in pairs]
    specs = self.fn(tree) if self.fn is not None else self._tree()
    out: list = []

    def visit(spec, sub):
      out.extend(spec for _ in jax.tree.leaves(sub))

    try:
      jax.tree.map(visit, specs, tree, is_leaf=_is_spec)
    except ValueError as error:
      raise TreeMismatchError(
        "galore: weight_dimension_numbers does not match the params' tree (expected "
        f"GaLoreDimensionNumbers or None per leaf, or per subtree): {error}"
      ) from None
    return [(p, x, s) for (p, x), s in zip(pairs, out)]


class _View(NamedTuple):
  """A leaf as an `(m, n)` matrix, and which side GaLore projects (`left`: `m <= n`)."""

  perm: tuple[int, ...]
  inv_perm: tuple[int, ...]
  permuted_shape: tuple[int, ...]
  m: int
  n: int
  r: int

  @property
  def left(self) -> bool:
    return self.m <= self.n

  @property
  def projector_shape(self) -> tuple[int, int]:
    return (self.m, self.r) if self.left else (self.n, self.r)

  @property
  def low_rank_shape(self) -> tuple[int, int]:
    return (self.r, self.n) if self.left else (self.m, self.r)

  def to_matrix(self, x: jax.Array) -> jax.Array:
    return x.transpose(self.perm).reshape(self.m, self.n)

  def from_matrix(self, x: jax.Array) -> jax.Array:
    return x.reshape(self.permuted_shape).transpose(self.inv_perm)


def _view(shape: tuple[int, ...], spec: GaLoreDimensionNumbers, rank: int, where: str) -> _View:
  ndim = len(shape)
  if ndim < 2:
    raise ValueError(
      f"galore: {where} has shape {shape}; GaLore projects leaves of rank >= 2 (give this "
      "leaf None in weight_dimension_numbers)."
    )
  red = normalize_axes(spec.reduction_axis, ndim, "reduction_axis", where, "galore")
  out = normalize_axes(spec.output_axis, ndim, "output_axis", where, "galore")
  if set(red) & set(out) or len(red) + len(out) != ndim:
    raise ValueError(
      f"galore: {where} (shape {shape}): reduction_axis={spec.reduction_axis} and "
      f"output_axis={spec.output_axis} must split the {ndim} axes between them "
      "(disjoint, every axis named once)."
    )
  perm = red + out
  inv_perm = tuple(sorted(range(ndim), key=lambda i: perm[i]))
  m, n = math.prod(shape[a] for a in red), math.prod(shape[a] for a in out)
  return _View(perm, inv_perm, tuple(shape[a] for a in perm), m, n, min(rank, m, n))
