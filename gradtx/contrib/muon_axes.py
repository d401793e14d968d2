"""Which axes of a Muon leaf form its matrix: `MuonDimensionNumbers`, their per-leaf
resolution and the reshapes to and from `(batch, fan_in, fan_out)`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
from jax.tree_util import keystr

from gradtx.tree_utils import masks as _masks

__all__ = [
  "MuonDimensionNumbers",
  "MatrixView",
  "MuonLabels",
  "matrix_views",
  "normalize_axes",
  "SpecTree",
]


class MuonDimensionNumbers(NamedTuple):
  """The axes of a weight that form Muon's matrix (Optax's spec).

  `reduction_axis` (fan-in, contracted with the input, `x W = y`) and
  `output_axis` (fan-out), each an int or a sequence of ints (negative ints
  count from the end); every other axis is a batch axis, each index of which
  is orthogonalized independently. Examples (JAX layouts):

  * dense `(in, out)`: `MuonDimensionNumbers(0, 1)` (the default);
  * conv kernel HWIO `(h, w, in, out)`: `MuonDimensionNumbers((0, 1, 2), 3)`;
  * attention `(d_model, heads, head_dim)`: `MuonDimensionNumbers(0, (1, 2))`
    (or `(0, 2)` to orthogonalize each head on its own);
  * mixture of experts `(experts, in, out)`: `MuonDimensionNumbers(1, 2)`.
  """

  reduction_axis: Sequence[int] | int = 0
  output_axis: Sequence[int] | int = 1


def is_spec(x: Any) -> bool:
  """None, a `MuonDimensionNumbers`, or any NamedTuple with its two fields (Optax's)."""
  return (
    x is None
    or isinstance(x, MuonDimensionNumbers)
    or (isinstance(x, tuple) and getattr(x, "_fields", None) == MuonDimensionNumbers._fields)
  )


class SpecTree:
  """Hashable, static holder of a tree (or prefix tree) of specs, or of a callable
  `params -> such a tree`."""

  __slots__ = ("fn", "leaves", "treedef")

  def __init__(self, tree: Any) -> None:
    if callable(tree) and not is_spec(tree):
      self.fn, self.leaves, self.treedef = tree, None, None
    else:
      self.fn = None
      leaves, self.treedef = jax.tree.flatten(tree, is_leaf=is_spec)
      self.leaves = tuple(None if leaf is None else _hashable(leaf) for leaf in leaves)

  def _key(self) -> tuple:
    return (self.fn, self.leaves, self.treedef)

  def __eq__(self, other: object) -> bool:
    return isinstance(other, SpecTree) and self._key() == other._key()

  def __hash__(self) -> int:
    return hash(self._key())

  def __repr__(self) -> str:
    return repr(self.fn) if self.fn is not None else repr(self.tree())

  def tree(self) -> Any:
    assert self.leaves is not None, "a SpecTree of a function stores no tree"
    return jax.tree.unflatten(self.treedef, self.leaves)

  def resolve(self, updates: Any) -> Any:
    """One spec (or None) per position of `updates`, as a list aligned with
    `jax.tree.flatten(updates, is_leaf=lambda x: x is None)`."""
    specs = self.fn(updates) if self.fn is not None else self.tree()
    try:
      return [spec for spec, _ in _pairs(specs, updates)]
    except ValueError as error:
      raise ValueError(
        "muon: the weight dimension numbers do not match the params' tree "
        "(expected a tree of MuonDimensionNumbers or None shaped like the params "
        f"or a prefix of them): {error}"
      ) from None


def _pairs(specs: Any, updates: Any) -> list:
  """(spec, update) per position of `updates`, a spec covering its subtree."""
  pairs = []

  def visit(spec, sub):
    for leaf in jax.tree.leaves(sub, is_leaf=lambda x: x is None):
      pairs.append((spec, leaf))

  jax.tree.map(visit, specs, updates, is_leaf=is_spec)
  return pairs


def _hashable(spec: MuonDimensionNumbers) -> MuonDimensionNumbers:
  def tup(axes):
    return axes if isinstance(axes, int) else tuple(axes)

  return MuonDimensionNumbers(tup(spec.reduction_axis), tup(spec.output_axis))


def normalize_axes(
  axes: Sequence[int] | int, ndim: int, what: str, where: str, owner: str = "muon"
) -> tuple[int, ...]:
  """`axes` (an int or a sequence; negative ints count from the end) as distinct axes in
  `[0, ndim)`; a `ValueError` naming `owner`, the leaf (`where`) and the argument (`what`)
  for an empty, non-int, out-of-range or repeated axis. GaLore's specs use it too."""
  axes = (axes,) if isinstance(axes, int) else tuple(axes)
  if not axes:
    raise ValueError(
      f"{owner}: {where}: {what} is empty; each of reduction_axis and output_axis "
      "needs at least one axis."
    )
  out = []
  for ax in axes:
    if not isinstance(ax, int) or isinstance(ax, bool):
      raise ValueError(f"{owner}: {where}: {what} holds {ax!r}; axes are ints.")
    if not -ndim <= ax < ndim:
      raise ValueError(
        f"{owner}: {where}: {what} holds axis {ax}, out of range for a leaf of rank {ndim}."
      )
    out.append(ax % ndim)
  if len(set(out)) != len(out):
    raise ValueError(f"{owner}: {where}: {what}={axes} repeats an axis.")
  return tuple(out)


class MatrixView(NamedTuple):
  """A leaf seen as a batch of `fan_in x fan_out` matrices: `to_matrix(x)` has shape
  `(batch, fan_in, fan_out)`; `from_matrix` is its inverse."""

  perm: tuple[int, ...]
  inv_perm: tuple[int, ...]
  permuted_shape: tuple[int, ...]
  batch: int
  fan_in: int
  fan_out: int

  def to_matrix(self, x: jax.Array) -> jax.Array:
    return x.transpose(self.perm).reshape(self.batch, self.fan_in, self.fan_out)

  def from_matrix(self, x: jax.Array) -> jax.Array:
    return x.reshape(self.permuted_shape).transpose(self.inv_perm)


def matrix_view(shape: tuple[int, ...], spec: MuonDimensionNumbers, where: str) -> MatrixView:
  """The view of a leaf of `shape` under `spec`; a clear error for an impossible spec."""
  ndim = len(shape)
  if ndim < 2:
    raise ValueError(
      f"muon: {where} has shape {shape}; Muon orthogonalizes leaves of rank >= 2 "
      "(muon() sends 0-d and 1-D leaves to AdamW; give the leaf a None spec)."
    )
  red = normalize_axes(spec.reduction_axis, ndim, "reduction_axis", where)
  out = normalize_axes(spec.output_axis, ndim, "output_axis", where)
  if set(red) & set(out):
    raise ValueError(
      f"muon: {where}: reduction_axis={spec.reduction_axis} and output_axis="
      f"{spec.output_axis} share an axis (shape {shape})."
    )
  batch = tuple(ax for ax in range(ndim) if ax not in red and ax not in out)
  perm = batch + red + out
  inv_perm = tuple(sorted(range(ndim), key=lambda i: perm[i]))
  size = lambda axes: math.prod(shape[ax] for ax in axes)
  return MatrixView(
    perm, inv_perm, tuple(shape[ax] for ax in perm), size(batch), size(red), size(out)
  )


def matrix_views(updates: Any, specs: SpecTree | None, owner: str = "muon") -> list:
  """`(leaf, view)` for each non-None leaf of `updates`; `specs=None`: every leaf is a
  plain `(in, out)` matrix. A leaf without a spec is an error naming its path."""
  paths_leaves = jax.tree_util.tree_flatten_with_path(updates, is_leaf=lambda x: x is None)[0]
  per_leaf = (
    [MuonDimensionNumbers()] * len(paths_leaves) if specs is None else specs.resolve(updates)
  )
  out = []
  for (path, leaf), spec in zip(paths_leaves, per_leaf):
    if leaf is None:
      continue
    where = f"leaf {keystr(path) or '<root>'}"
    if spec is None:
      raise ValueError(
        f"{owner}: {where} (shape {tuple(leaf.shape)}) has no "
        "MuonDimensionNumbers; scale_by_muon orthogonalizes every leaf it is "
        "given (muon() routes leaves with a None spec to AdamW)."
      )
    out.append((leaf, matrix_view(tuple(leaf.shape), spec, where)))
  return out


class MuonLabels:
  """`params -> tree of "muon" / "adam"` for `muon`'s partition: a leaf with a spec (default:
  the 2-D leaves) goes to Muon unless `adam_mask` selects it (hashable by its arguments, so
  static)."""

  __slots__ = ("specs", "adam_mask")

  def __init__(self, specs: SpecTree | None, adam_mask: Any) -> None:
    self.specs, self.adam_mask = specs, _masks.freeze(adam_mask)

  def __call__(self, params: Any) -> Any:
    leaves, treedef = jax.tree.flatten(params, is_leaf=lambda x: x is None)
    if self.specs is None:
      specs = [MuonDimensionNumbers() if getattr(x, "ndim", 0) == 2 else None for x in leaves]
    else:
      specs = self.specs.resolve(params)
    adam = (
      treedef.flatten_up_to(_masks.resolve(self.adam_mask, params))
      if self.adam_mask is not None
      else [False] * len(leaves)
    )
    labels = ["muon" if s is not None and not a else "adam" for s, a in zip(specs, adam)]
    return treedef.unflatten(labels)

  def _key(self) -> tuple:
    return (self.specs, self.adam_mask)

  def __eq__(self, other: object) -> bool:
    return isinstance(other, MuonLabels) and self._key() == other._key()

  def __hash__(self) -> int:
    return hash(self._key())
