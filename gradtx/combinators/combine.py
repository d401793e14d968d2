"""`chain` and `named_chain`: compose transformations left to right."""

from __future__ import annotations

import collections
from typing import Any

from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation, as_transformation
from gradtx.tree_utils import masks as _masks

__all__ = ["chain", "Chain", "named_chain", "NamedChain", "as_transformation"]


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
      trainable = getattr(t, "trainable", None)  # a `freeze` stage
      if trainable is not None:
        params = _masks.keep(params, trainable(params))
    return tuple(states)

  def update(self, updates, state, params=None, **extra_args):
    if len(state) != len(self.transforms):
      raise ValueError(
        f"chain of {len(self.transforms)} transformations got a state of "
        f"{len(state)} entries; was it made by this chain's init?"
      )
    new_state, frozen = [], []
    for t, s in zip(self.transforms, state):
      updates, s = t.update(updates, s, params, **extra_args)
      new_state.append(s)
      trainable_fn = getattr(t, "trainable", None)
      if trainable_fn is not None:  # a `freeze` stage: later stages skip frozen leaves
        trainable = trainable_fn(updates)
        frozen.append((trainable, updates))
        updates = _masks.keep(updates, trainable)
        params = None if params is None else _masks.keep(params, trainable)
    for trainable, full in reversed(frozen):
      updates = _masks.merge(trainable, updates, full)
    return updates, tuple(new_state)


def chain(*transforms: Any) -> Chain:
  r"""Composes transformations, applied left to right.

  $$
  u_t = T_n\big(\cdots T_2(T_1(g_t))\big),
  $$

  each stage $T_i$ with its own state; the chain's state is the tuple of the stages'
  states. Stages after a `freeze(mask)` stage see `None` in place of the frozen leaves, so
  they keep no state and do no work for them. Accepts gradtx transformations and any
  Optax-style `(init, update)` pair.

  Defaults: none (Optax's `chain`).
  """
  return Chain(tuple(as_transformation(t) for t in transforms))


class NamedChain(GradientTransformation):
  """`chain` whose state is an ordered dict `name -> that stage's state`, so
  `state["clip"]` finds a stage's state by the name it was given."""

  names: tuple = static(default=())
  transforms: tuple = ()

  def init(self, params):
    return collections.OrderedDict((n, t.init(params)) for n, t in zip(self.names, self.transforms))

  def update(self, updates, state, params=None, **extra_args):
    new_state = collections.OrderedDict()
    for name, t in zip(self.names, self.transforms):
      updates, new_state[name] = t.update(updates, state[name], params, **extra_args)
    return updates, new_state


def named_chain(*transforms: tuple[str, Any]) -> NamedChain:
  r"""`chain` of `(name, transform)` pairs, $u_t = T_n(\cdots T_1(g_t))$; the state is an
  ordered dict keyed by the (unique) names, so `state["clip"]` finds a stage's state.

  Defaults: none (Optax's `named_chain`).
  """
  names = tuple(name for name, _ in transforms)
  if len(set(names)) != len(names):
    raise ValueError(f"named_chain: names must be unique, got {list(names)}.")
  return NamedChain(names, tuple(as_transformation(t) for _, t in transforms))
