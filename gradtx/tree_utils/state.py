"""Finding and replacing values in optimizer states by name (Optax's `tree_get`,
`tree_get_all_with_path`, `tree_set`, `NamedTupleKey`).

A key is a dict key, a NamedTuple field name, or a NamedTuple class name (the
whole sub-state). Paths are `jax.tree_util` key paths, except that a
NamedTuple field is a `NamedTupleKey(tuple_name, name)`, so `filtering` can
tell `ScaleByAdamState.count` from `ScaleByScheduleState.count`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import jax
from jax.tree_util import DictKey, FlattenedIndexKey, GetAttrKey, SequenceKey

__all__ = ["NamedTupleKey", "tree_get", "tree_get_all_with_path", "tree_set"]

KeyPath = tuple
Filtering = Callable[[KeyPath, Any], bool]


@dataclasses.dataclass(frozen=True, eq=False)
class NamedTupleKey:
  """Path entry for the field `name` of a NamedTuple of class `tuple_name`.

  Equal to any path entry of that type name with the same two fields, so a
  path spelled with Optax's `NamedTupleKey` matches one from gradtx.
  """

  tuple_name: str
  name: str

  def __str__(self) -> str:
    return f"{self.tuple_name}.{self.name}"

  def __eq__(self, other: object) -> bool:
    if type(other).__name__ != "NamedTupleKey":
      return NotImplemented
    return (self.tuple_name, self.name) == (
      getattr(other, "tuple_name", None),
      getattr(other, "name", None),
    )

  def __hash__(self) -> int:
    return hash((self.tuple_name, self.name))


def _is_named_tuple(x: Any) -> bool:
  return isinstance(x, tuple) and hasattr(x, "_fields")


def _has_any(node: Any, keys: tuple) -> bool:
  """Does `node` hold one of `keys` (dict key, field) or is it a NamedTuple named so?"""
  if _is_named_tuple(node):
    return type(node).__name__ in keys or any(k in node._fields for k in keys)
  return isinstance(node, dict) and any(_hashable(k) and k in node for k in keys)


def _hashable(k: Any) -> bool:
  try:
    hash(k)
  except TypeError:
    return False
  return True


def _children(
  path: KeyPath, node: Any, insertion_order: bool = True
) -> list[tuple[KeyPath, Any]] | None:
  """`(path, child)` one level down, or None for a leaf; a dict's children in insertion
  order, or (`insertion_order=False`) in JAX's sorted-key order."""
  if _is_named_tuple(node):
    name = type(node).__name__
    return [((*path, NamedTupleKey(name, f)), getattr(node, f)) for f in node._fields]
  if isinstance(node, dict) and insertion_order:
    return [((*path, DictKey(k)), v) for k, v in node.items()]
  pairs, treedef = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)
  if jax.tree_util.treedef_is_leaf(treedef):
    return None
  return [((*path, p[0]), child) for p, child in pairs]


def _walk(path: KeyPath, node: Any, stop: Callable[[Any], bool]) -> Iterator[tuple]:
  """`(path, node)` for the outermost nodes where `stop` holds, and for leaves, in the
  order of `jax.tree_util.tree_leaves_with_path`."""
  kids = None if stop(node) or node is None else _children(path, node, insertion_order=False)
  if kids is None:
    if node is not None:
      yield path, node
    return
  for child_path, child in kids:
    yield from _walk(child_path, child, stop)


def _select(path: KeyPath, node: Any, key: Any) -> tuple[KeyPath, Any]:
  if _is_named_tuple(node):
    if type(node).__name__ == key:
      return path, node
    return (*path, NamedTupleKey(type(node).__name__, key)), getattr(node, key)
  return (*path, DictKey(key)), node[key]


def _find(path: KeyPath, tree: Any, key: Any) -> list[tuple[KeyPath, Any]]:
  """Every match of `key`: the outermost ones first, then those nested in each."""
  has = lambda node: _has_any(node, (key,))
  holders = [(p, n) for p, n in _walk(path, tree, has) if has(n)]
  found = [_select(p, n, key) for p, n in holders]
  for p, n in holders:
    for child_path, child in _children(p, n) or []:
      found += _find(child_path, child, key)
  return found


def tree_get_all_with_path(
  tree: Any, key: Any, filtering: Filtering | None = None
) -> list[tuple[KeyPath, Any]]:
  """Every `(path, value)` in `tree` whose dict key / field / NamedTuple name is `key`
  (and for which `filtering(path, value)` holds, if given)."""
  found = _find((), tree, key)
  if filtering is not None:
    found = [(p, v) for p, v in found if filtering(p, v)]
  return found


def tree_get(
  tree: Any, key: Any, default: Any | None = None, filtering: Filtering | None = None
) -> Any:
  """The one value of `tree` named `key` (see `tree_get_all_with_path`); `default` if
  there is none, a KeyError naming the paths if there are several."""
  found = tree_get_all_with_path(tree, key, filtering=filtering)
  if len(found) > 1:
    paths = ", ".join(jax.tree_util.keystr(p) or "<root>" for p, _ in found)
    raise KeyError(
      f"tree_get: found {len(found)} values for {key!r} (at {paths}); pass "
      "`filtering` to choose one."
    )
  return found[0][1] if found else default


def _entry_name(entry: Any) -> Any:
  """The plain key of a path entry (dict key, field name, index)."""
  for kind, attr in (
    (DictKey, "key"),
    (FlattenedIndexKey, "key"),
    (GetAttrKey, "name"),
    (SequenceKey, "idx"),
    (NamedTupleKey, "name"),
  ):
    if isinstance(entry, kind):
      return getattr(entry, attr)
  raise KeyError(f"tree_set: unsupported path entry {entry!r}.")


def _rebuild(node: Any, new_children: list[Any]) -> Any:
  if _is_named_tuple(node):
    return node._replace(**dict(zip(node._fields, new_children)))
  if isinstance(node, dict):
    return dict(zip(node.keys(), new_children))
  return jax.tree_util.tree_unflatten(
    jax.tree_util.tree_structure(node, is_leaf=lambda x: x is not node), new_children
  )


def tree_set(tree: Any, filtering: Filtering | None = None, /, **kwargs: Any) -> Any:
  """A copy of `tree` with every value named by a keyword replaced by its value.

  Names are dict keys, NamedTuple fields, or NamedTuple class names (the
  whole sub-state is replaced). With `filtering`, only values for which
  `filtering(path, value)` holds are replaced. A KeyError if some keyword
  matches nothing.
  """
  for key in kwargs:
    if not tree_get_all_with_path(tree, key, filtering):
      extra = " given the filtering" if filtering is not None else ""
      raise KeyError(f"tree_set: found no value named {key!r}{extra} in the tree.")
  keys = tuple(kwargs)
  accept = lambda path, value: filtering is None or filtering(path, value)

  def replace(path: KeyPath, node: Any) -> Any:
    if _is_named_tuple(node) and type(node).__name__ in kwargs and accept(path, node):
      return kwargs[type(node).__name__]
    kids = _children(path, node) if node is not None else None
    if kids is None:
      return node
    holds = _has_any(node, keys)
    new = []
    for child_path, child in kids:
      name = _entry_name(child_path[-1]) if holds else None
      if holds and name in kwargs and accept(child_path, child):
        new.append(kwargs[name])
      else:
        new.append(replace(child_path, child))
    return _rebuild(node, new)

  return replace((), tree)
