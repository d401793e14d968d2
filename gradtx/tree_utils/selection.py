"""Selectors: choose leaves by tree path, by a predicate or by rank, to build masks.

A selector is a callable `params -> tree of bools` (Optax's mask protocol), so
it goes wherever a mask does (`masked`, `freeze`, `add_decayed_weights(mask=)`,
`adamw(mask=)`), and selectors combine with `~`, `&` and `|`:

    gradtx.adamw(1e-3, weight_decay=0.1, mask=~gradtx.by_path("*bias", "*scale"))

A leaf's path is its keys joined by "/", e.g. `encoder/layers/0/kernel`
(dict keys, attribute names of dataclasses / Flax / Equinox modules,
NamedTuple field names and list indices alike; the `.value` of a Flax NNX
Variable is left out).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any

import jax
from jax.tree_util import DictKey, FlattenedIndexKey, GetAttrKey, SequenceKey

__all__ = ["Selector", "by_path", "by_ndim", "by_leaf", "path_str"]


def _key_str(key: Any) -> str:
  if isinstance(key, DictKey):
    return str(key.key)
  if isinstance(key, GetAttrKey):
    return key.name
  if isinstance(key, SequenceKey):
    return str(key.idx)
  if isinstance(key, FlattenedIndexKey):
    return str(key.key)
  return str(key)


def path_str(path: tuple) -> str:
  """`encoder/layers/0/kernel` for a `jax.tree_util` key path.

  A trailing `.value` attribute (how a `flax.nnx.Variable` holds its array in
  an `nnx.State`) is dropped, so `*bias` matches Flax NNX trees too.
  """
  if path and isinstance(path[-1], GetAttrKey) and path[-1].name == "value":
    path = path[:-1]
  return "/".join(_key_str(k) for k in path)


class Selector:
  """`params -> tree of bools`, from a predicate `pred(path_str, leaf) -> bool`."""

  __slots__ = ("pred", "description")

  def __init__(self, pred: Callable[[str, Any], bool], description: str) -> None:
    self.pred = pred
    self.description = description

  def __call__(self, params: Any) -> Any:
    return jax.tree_util.tree_map_with_path(
      lambda path, leaf: bool(self.pred(path_str(path), leaf)), params
    )

  def __invert__(self) -> Selector:
    return Selector(lambda p, x: not self.pred(p, x), f"~{self.description}")

  def __and__(self, other: Selector) -> Selector:
    return Selector(
      lambda p, x: self.pred(p, x) and other.pred(p, x),
      f"({self.description} & {other.description})",
    )

  def __or__(self, other: Selector) -> Selector:
    return Selector(
      lambda p, x: self.pred(p, x) or other.pred(p, x),
      f"({self.description} | {other.description})",
    )

  def __eq__(self, other: object) -> bool:
    return isinstance(other, Selector) and self.description == other.description

  def __hash__(self) -> int:
    return hash(self.description)

  def __repr__(self) -> str:
    return self.description


def by_path(*patterns: str) -> Selector:
  """Leaves whose path matches any shell-style pattern (`*bias`, `encoder/*`)."""
  return Selector(
    lambda p, _: any(fnmatch.fnmatchcase(p, pat) for pat in patterns), f"by_path{patterns!r}"
  )


def by_ndim(min_ndim: int = 0, max_ndim: int | None = None) -> Selector:
  """Leaves with `min_ndim <= ndim <= max_ndim` (e.g. `by_ndim(2)`: matrices and up)."""

  def pred(_, leaf):
    ndim = getattr(leaf, "ndim", 0)
    return ndim >= min_ndim and (max_ndim is None or ndim <= max_ndim)

  return Selector(pred, f"by_ndim({min_ndim}, {max_ndim})")


def by_leaf(pred: Callable[[str, Any], bool]) -> Selector:
  """Leaves for which `pred(path_str, leaf)` is true."""
  return Selector(pred, f"by_leaf({pred!r})")
