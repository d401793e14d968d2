"""Private: masks that select which leaves a transformation touches.

A mask is a pytree of bools shaped like the params (or a prefix of it), or a
callable `params -> such a tree`. It is static (part of the treedef), so it is
stored in a hashable, frozen form.
"""

from __future__ import annotations

from typing import Any, Callable

import jax


class FrozenMask:
  """Hashable holder of a mask tree or a mask function."""

  __slots__ = ("leaves", "treedef", "fn")

  def __init__(self, mask: Any) -> None:
    if callable(mask):
      self.fn, self.leaves, self.treedef = mask, None, None
    else:
      self.fn = None
      self.leaves, self.treedef = jax.tree.flatten(mask)
      self.leaves = tuple(bool(x) for x in self.leaves)

  def _key(self):
    return (self.fn, self.leaves, self.treedef)

  def __eq__(self, other: object) -> bool:
    return isinstance(other, FrozenMask) and self._key() == other._key()

  def __hash__(self) -> int:
    return hash(self._key())

  def __repr__(self) -> str:
    if self.fn is not None:
      return f"FrozenMask({self.fn!r})"
    return f"FrozenMask({jax.tree.unflatten(self.treedef, self.leaves)!r})"

  def resolve(self, params: Any) -> Any:
    """The mask as a tree of Python bools with exactly the structure of `params`."""
    mask = self.fn(params) if self.fn is not None else jax.tree.unflatten(
        self.treedef, self.leaves)
    return broadcast_prefix(mask, params)


def freeze(mask: Any) -> FrozenMask | None:
  """`None` stays `None` (no mask: every leaf selected)."""
  if mask is None or isinstance(mask, FrozenMask):
    return mask
  return FrozenMask(mask)


def broadcast_prefix(mask: Any, params: Any) -> Any:
  """Expands a prefix tree of bools to the full structure of `params`."""
  if isinstance(mask, bool):
    return jax.tree.map(lambda _: mask, params)
  return jax.tree.map(
      lambda m, sub: jax.tree.map(lambda _: bool(m), sub), mask, params,
      is_leaf=lambda x: isinstance(x, bool))


def resolve(mask: FrozenMask | None, params: Any) -> Any:
  """Tree of bools like `params`; all True when there is no mask."""
  if mask is None:
    return jax.tree.map(lambda _: True, params)
  return mask.resolve(params)


MaskOrFn = Any | Callable[[Any], Any] | None
