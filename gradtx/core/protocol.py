"""The gradient-transformation protocol (Optax-compatible) and its base class."""

from __future__ import annotations

from typing import Any, Callable, Iterator, NamedTuple

import jax

from gradtx.core.module import Module, static
from gradtx.core.validate import named_errors

__all__ = [
    "EmptyState",
    "GradientTransformation",
    "Params",
    "Updates",
    "OptState",
    "StatelessTransformation",
    "identity",
    "stateless",
    "stateless_with_tree_map",
]

Params = Any
Updates = Any
OptState = Any


class EmptyState(NamedTuple):
  """State of a transformation that keeps none."""


class GradientTransformation(Module):
  """A pair of pure functions `init(params) -> state` and
  `update(updates, state, params=None, **extra_args) -> (updates, state)`.

  Subclasses are frozen dataclasses whose numeric fields are pytree leaves
  (see `gradtx._module.Module`): an optimizer can be passed into `jax.jit`
  (a new learning rate does not recompile) or built from traced values under
  `jax.vmap` (a hyperparameter sweep). Like Optax's NamedTuple it unpacks as
  `init, update = tx`, so it works wherever Optax's protocol is expected.
  """

  def __init_subclass__(cls, **kwargs: Any) -> None:
    super().__init_subclass__(**kwargs)
    for name in ("init", "update"):
      if name in cls.__dict__:
        setattr(cls, name, named_errors(cls.__dict__[name], cls.__name__))

  def init(self, params: Params) -> OptState:
    raise NotImplementedError

  def update(self, updates: Updates, state: OptState, params: Params | None = None,
             **extra_args: Any) -> tuple[Updates, OptState]:
    raise NotImplementedError

  def __iter__(self) -> Iterator[Callable]:
    return iter((self.init, self.update))

  def __len__(self) -> int:
    return 2

  def __getitem__(self, index: int) -> Callable:
    return (self.init, self.update)[index]


class StatelessTransformation(GradientTransformation):
  """Base of the transformations that keep no state: `init` returns `EmptyState()`."""

  def init(self, params):
    del params
    return EmptyState()


class Identity(StatelessTransformation):
  """`u = g`: passes updates through unchanged."""

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    return updates, state


def identity() -> Identity:
  """Returns the transformation that leaves updates unchanged."""
  return Identity()


class Stateless(StatelessTransformation):
  """A transformation without state: `u = fn(g, params)` on whole trees."""

  fn: Callable[[Updates, Params | None], Updates] = static()

  def update(self, updates, state, params=None, **extra_args):
    del extra_args
    return self.fn(updates, params), state


def stateless(fn: Callable[[Updates, Params | None], Updates]) -> Stateless:
  """Wraps `fn(updates, params) -> updates` as a stateless transformation."""
  return Stateless(fn)


def stateless_with_tree_map(fn: Callable[[jax.Array, jax.Array | None], jax.Array]) -> Stateless:
  """Wraps a per-leaf `fn(g, p) -> u` as a stateless transformation."""
  def tree_fn(updates, params):
    if params is None:
      return jax.tree.map(lambda g: fn(g, None), updates)
    return jax.tree.map(fn, updates, params)
  return Stateless(tree_fn)
