"""Private: static trees (masks, labels) that select which leaves a transformation touches.

A mask is a pytree of bools shaped like the params or a prefix of it, or a
callable `params -> such a tree` (a `gradtx.selection` selector is one). A
label tree is the same with labels instead of bools. Both are static (part of
the treedef), so they are stored in a hashable, frozen form.
"""

from __future__ import annotations

from typing import Any

import jax


class FrozenTree:
  """Hashable holder of a prefix tree of hashable leaves, or of a function of the params."""

  __slots__ = ("leaves", "treedef", "fn")

  def __init__(self, tree: Any) -> None:
    if callable(tree):
      self.fn, self.leaves, self.treedef = tree, None, None
    else:
      self.fn = None
      leaves, self.treedef = jax.tree.flatten(tree)
      self.leaves = tuple(leaves)

  def _key(self) -> tuple:
    return (self.fn, self.leaves, self.treedef)

  def __eq__(self, other: object) -> bool:
    return isinstance(other, FrozenTree) and self._key() == other._key()

  def __hash__(self) -> int:
    return hash(self._key())

  def __repr__(self) -> str:
    if self.fn is not None:
      return repr(self.fn)
    return repr(self.tree())

  def tree(self) -> Any:
    """The stored prefix tree (of a mask given as a tree, not as a function)."""
    assert self.leaves is not None, "a FrozenTree of a function stores no tree"
    return jax.tree.unflatten(self.treedef, self.leaves)

  def resolve(self, params: Any) -> Any:
    """The tree with exactly the structure of `params` (prefix leaves broadcast)."""
    tree = self.fn(params) if self.fn is not None else self.tree()
    return jax.tree.map(lambda value, sub: jax.tree.map(lambda _: value, sub), tree, params)


def freeze(tree: Any) -> FrozenTree | None:
  """`None` stays `None` (no mask: every leaf selected)."""
  if tree is None or isinstance(tree, FrozenTree):
    return tree
  return FrozenTree(tree)


def keep(tree: Any, selected: Any) -> Any:
  """`tree` with the unselected leaves replaced by `None` (no state, no work)."""
  return jax.tree.map(lambda x, on: x if on else None, tree, selected)


def merge(selected: Any, inner: Any, outer: Any) -> Any:
  """`inner`'s leaves where selected, `outer`'s elsewhere."""
  return jax.tree.map(
    lambda on, a, b: a if on else b, selected, inner, outer, is_leaf=lambda x: x is None
  )


def resolve(mask: FrozenTree | None, params: Any) -> Any:
  """Tree of bools shaped like `params`; all True when there is no mask."""
  if mask is None:
    return jax.tree.map(lambda _: True, params)
  return jax.tree.map(bool, mask.resolve(params))
