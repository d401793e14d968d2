"""Private: pairing the leaves of several trees, with errors that name the leaf path.

`tree_map_like(fn, names, trees)` is `jax.tree.map(fn, *trees)` that refuses
silently broadcast leaves: the trees must have the first tree's structure and
each leaf the shape of the first tree's leaf; otherwise a `TreeMismatchError`
names the first differing leaf by its path and the arguments as the caller
spelled them. With `none_leaf=True` a `None` in the first tree is a leaf whose
counterparts are skipped (Optax's convention for masked-out state).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.tree_util import keystr

from gradtx.core.validate import TreeMismatchError, check_same_structure


def _is_none(x: Any) -> bool:
  return x is None


def _leaf_paths(tree: Any, none_leaf: bool) -> list[str]:
  pairs = jax.tree_util.tree_flatten_with_path(tree, is_leaf=_is_none if none_leaf else None)[0]
  return [keystr(p) or "<root>" for p, _ in pairs]


def flatten_like(
  names: Sequence[str], trees: Sequence[Any], *, none_leaf: bool = False, shapes: bool = True
) -> tuple[Any, list[list[Any]]]:
  """`(treedef, [leaves of each tree])`, all flattened up to the first tree's structure."""
  first = trees[0]
  leaves, treedef = jax.tree.flatten(first, is_leaf=_is_none if none_leaf else None)
  columns = [leaves]
  for name, tree in zip(names[1:], trees[1:]):
    try:
      columns.append(treedef.flatten_up_to(tree))
    except (ValueError, TypeError) as error:
      check_same_structure(names[0], first, name, tree, shapes=False)
      raise TreeMismatchError(
        f"{name} does not have the tree structure of {names[0]}: {error}"
      ) from None
  if shapes:
    for i, row in enumerate(zip(*columns)):
      if row[0] is None:  # a leaf only with none_leaf: flatten drops None otherwise
        continue
      shape = np.shape(row[0])
      for name, leaf in zip(names[1:], row[1:]):
        if leaf is not None and np.shape(leaf) != shape:
          path = _leaf_paths(first, none_leaf)[i]
          raise TreeMismatchError(
            f"leaf {path} has shape {shape} in {names[0]} but {np.shape(leaf)} in {name}; "
            "shapes must match (no broadcasting)."
          )
  return treedef, columns


def tree_map_like(
  fn: Callable[..., Any],
  names: Sequence[str],
  trees: Sequence[Any],
  *,
  none_leaf: bool = False,
  shapes: bool = True,
) -> Any:
  """`fn` leaf by leaf over trees of one structure (and leaf shapes, if `shapes`).

  With `none_leaf`, a `None` leaf of the first tree stays `None`.
  """
  treedef, columns = flatten_like(names, trees, none_leaf=none_leaf, shapes=shapes)
  out = [None if (none_leaf and row[0] is None) else fn(*row) for row in zip(*columns)]
  return treedef.unflatten(out)
