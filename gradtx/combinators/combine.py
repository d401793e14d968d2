"""`chain`: composes transformations left to right."""

from __future__ import annotations

import inspect
from typing import Any, Callable

from gradtx.tree_utils import masks as _masks
from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation

__all__ = ["chain", "Chain"]


class Foreign(GradientTransformation):
  """A transformation from another library (e.g. Optax) held by `chain`.

  Its functions are closures, so they are static: changing them recompiles.
  """

  init_fn: Callable = static()
  update_fn: Callable = static()

  def init(self, params):
    return self.init_fn(params)

  def update(self, updates, state, params=None, **extra_args):
    if _accepts_extra_args(self.update_fn):
      return self.update_fn(updates, state, params, **extra_args)
    return self.update_fn(updates, state, params)


def _accepts_extra_args(fn: Callable) -> bool:
  try:
    parameters = inspect.signature(fn).parameters.values()
  except (TypeError, ValueError):
    return False
  return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def as_transformation(tx: Any) -> GradientTransformation:
  """Returns a gradtx transformation for any `(init, update)` pair."""
  if isinstance(tx, GradientTransformation):
    return tx
  init_fn, update_fn = tx
  return Foreign(init_fn, update_fn)


class Chain(GradientTransformation):
  """`u = f_n(... f_2(f_1(g)))`; the state is the tuple of the stages' states.

  Stages after a `freeze(mask)` stage see `None` in place of the frozen
  leaves, so they keep no state and do no work for them.
  """

  transforms: tuple[GradientTransformation, ...]

  def init(self, params):
    states = []
    for t in self.transforms:
      states.append(t.init(params))
      if hasattr(t, "trainable"):
        params = _masks.keep(params, t.trainable(params))
    return tuple(states)

  def update(self, updates, state, params=None, **extra_args):
    if len(state) != len(self.transforms):
      raise ValueError(
          f"chain of {len(self.transforms)} transformations got a state of "
          f"{len(state)} entries; was it made by this chain's init?")
    new_state, frozen = [], []
    for t, s in zip(self.transforms, state):
      updates, s = t.update(updates, s, params, **extra_args)
      new_state.append(s)
      if hasattr(t, "trainable"):  # a `freeze` stage: later stages skip frozen leaves
        trainable = t.trainable(updates)
        frozen.append((trainable, updates))
        updates = _masks.keep(updates, trainable)
        params = None if params is None else _masks.keep(params, trainable)
    for trainable, full in reversed(frozen):
      updates = _masks.merge(trainable, updates, full)
    return updates, tuple(new_state)


def chain(*transforms: Any) -> Chain:
  """Composes transformations, applied left to right.

  Accepts gradtx transformations and any Optax-style `(init, update)` pair.
  """
  return Chain(tuple(as_transformation(t) for t in transforms))
