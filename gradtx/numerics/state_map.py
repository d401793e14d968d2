"""`tree_map_params`: maps a function over the parameter-shaped trees inside an optimizer
state (e.g. to build sharding specs for the state from the params' specs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from gradtx.core.protocol import OptState, Params

__all__ = ["tree_map_params"]


@jax.tree_util.register_pytree_node_class
class _ParamsMarker:
  """A pytree with no leaves standing in for the params: `init(marker)` returns the state
  with a marker wherever a tree shaped like the params goes."""

  def tree_flatten(self):
    return (), None

  @classmethod
  def tree_unflatten(cls, aux, children):
    del aux, children
    return cls()


def _is_marker(x: Any) -> bool:
  return isinstance(x, _ParamsMarker)


def tree_map_params(
  initable: Any,
  f: Callable[..., Any],
  state: OptState,
  /,
  *rest: Any,
  transform_non_params: Callable[..., Any] | None = None,
  is_leaf: Callable[[Params], bool] | None = None,
) -> OptState:
  """`state` with `f(leaf, *rest_leaves)` applied to every tree in it shaped like the params.

  `initable` is a transformation (anything with `init`) or an `init` function;
  it is run on a leafless stand-in for the params to find which parts of the
  state are param-shaped (gradtx states keep them as fields of small
  NamedTuples, as Optax does). `rest` are trees shaped like the params.
  Other state leaves (counts, hyperparameters) are passed to
  `transform_non_params` if given, else kept. `is_leaf` is passed to
  `jax.tree.map` over the param-shaped trees; a `None` in them (a leaf that
  keeps no state, e.g. under a mask) stays `None`.
  """
  init = initable.init if hasattr(initable, "init") else initable
  if not callable(init):
    raise TypeError(
      f"tree_map_params: initable={initable!r} is neither a transformation nor an init function."
    )
  template = init(_ParamsMarker())

  def stop(x):
    return x is None or (is_leaf is not None and is_leaf(x))

  def per_leaf(value, *others):
    return None if value is None else f(value, *others)

  def per_subtree(marker_or_leaf, value):
    if _is_marker(marker_or_leaf):
      # A `None` in a param-shaped state tree (a leaf that keeps no state) stays `None`.
      return jax.tree.map(per_leaf, value, *rest, is_leaf=stop)
    return value if transform_non_params is None else transform_non_params(value)

  return jax.tree.map(per_subtree, template, state, is_leaf=_is_marker)
