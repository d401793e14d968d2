"""The gradient-transformation protocol (Optax-compatible) and its base class.

Every gradtx transformation accepts `**extra_args` (keyword arguments such as
`loss=` or `value=` that some transformations need), so Optax's two protocol
classes are one here: `GradientTransformationExtraArgs` is
`GradientTransformation`. Called with a pair of functions,
`GradientTransformation(init, update)` returns a transformation holding them
(`FromFunctions`), exactly as Optax users build one.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, cast

import jax

if TYPE_CHECKING:
  from typing_extensions import Self

from gradtx.core.module import Module, static
from gradtx.core.validate import named_errors

__all__ = [
  "ConditionFn",
  "EmptyState",
  "FromFunctions",
  "GradientTransformation",
  "GradientTransformationExtraArgs",
  "MaskOrFn",
  "MaskedNode",
  "ScalarOrSchedule",
  "ShouldSkipUpdateFunction",
  "TransformInitFn",
  "TransformUpdateExtraArgsFn",
  "TransformUpdateFn",
  "as_transformation",
  "init_empty_state",
  "with_extra_args_support",
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


Schedule = Callable[[Any], Any]
ScalarOrSchedule = float | jax.Array | Schedule
"""A number or a schedule `step -> value` (a learning rate, a weight decay)."""
MaskOrFn = Any | Callable[[Params], Any] | None
"""A tree (or prefix tree) of bools, a function `params -> such a tree`, or None (all leaves)."""


class EmptyState(NamedTuple):
  """State of a transformation that keeps none."""


class MaskedNode(NamedTuple):
  """Stands for a leaf a `masked` / `partition` group leaves out: a node without
  children, so tree maps pass over it and the inner transformation keeps no state there."""


def init_empty_state(params: Params) -> EmptyState:
  """`init` of a transformation without state: returns `EmptyState()`."""
  del params
  return EmptyState()


class TransformInitFn(Protocol):
  """`init(params) -> state`."""

  def __call__(self, params: Params) -> OptState: ...


class TransformUpdateFn(Protocol):
  """`update(updates, state, params=None) -> (updates, state)`."""

  def __call__(
    self, updates: Updates, state: OptState, params: Params | None = None
  ) -> tuple[Updates, OptState]: ...


class TransformUpdateExtraArgsFn(Protocol):
  """`update(updates, state, params=None, **extra_args) -> (updates, state)`; a
  transformation that needs an extra argument takes it keyword-only (`*, loss`)
  and ignores the others."""

  def __call__(
    self, updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
  ) -> tuple[Updates, OptState]: ...


class ConditionFn(Protocol):
  """`fn(step, **extra_args) -> bool scalar`: whether `conditionally_transform` /
  `conditionally_mask` run the inner transformation at this step (0 first)."""

  def __call__(self, step: jax.Array, **extra_args: Any) -> jax.Array: ...


class ShouldSkipUpdateFunction(Protocol):
  """`fn(updates, gradient_step, params) -> (should_skip, skip_state)`: `MultiSteps`
  drops a mini-step when `should_skip` (a bool scalar) is True and stores
  `skip_state` (any tree, e.g. diagnostics) in `MultiStepsState.skip_state`."""

  def __call__(
    self, updates: Updates, gradient_step: jax.Array, params: Params | None
  ) -> tuple[jax.Array, Any]: ...


class GradientTransformation(Module):
  """A pair of pure functions `init(params) -> state` and
  `update(updates, state, params=None, **extra_args) -> (updates, state)`.

  Subclasses are frozen dataclasses whose numeric fields are pytree leaves
  (see `gradtx._module.Module`): an optimizer can be passed into `jax.jit`
  (a new learning rate does not recompile) or built from traced values under
  `jax.vmap` (a hyperparameter sweep). Like Optax's NamedTuple it unpacks as
  `init, update = tx`, so it works wherever Optax's protocol is expected, and
  `GradientTransformation(init_fn, update_fn)` (or `init=`, `update=`) builds
  one from a pair of functions (`FromFunctions`).
  """

  def __new__(cls, *args: Any, **kwargs: Any) -> Self:
    if cls is GradientTransformation and (args or kwargs):
      # Python then runs FromFunctions.__init__; FromFunctions is a GradientTransformation.
      return cast("Self", object.__new__(FromFunctions))
    return object.__new__(cls)

  def __init_subclass__(cls, **kwargs: Any) -> None:
    super().__init_subclass__(**kwargs)
    for name in ("init", "update"):
      if name in cls.__dict__:
        setattr(cls, name, named_errors(cls.__dict__[name], cls.__name__))

  def init(self, params: Params) -> OptState:
    raise NotImplementedError

  def update(
    self, updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
  ) -> tuple[Updates, OptState]:
    raise NotImplementedError

  def __iter__(self) -> Iterator[Callable]:
    return iter((self.init, self.update))

  def __len__(self) -> int:
    return 2

  def __getitem__(self, index: int) -> Callable:
    return (self.init, self.update)[index]


GradientTransformationExtraArgs = GradientTransformation
"""Optax's name for a transformation whose `update` takes `**extra_args`: every gradtx
transformation does, so it is the same class (`isinstance` holds for all of them)."""


class FromFunctions(GradientTransformation):
  """A transformation given as a pair of functions (Optax style, or another library's).

  The functions are static (part of the treedef): changing them recompiles.
  `update` receives the extra arguments its signature names (all of them if it
  takes `**kwargs`), so a plain `update(updates, state, params=None)` ignores
  them, as Optax's `with_extra_args_support` does.
  """

  init_fn: Callable = static()
  update_fn: Callable = static()

  def __init__(
    self,
    init_fn: Callable | None = None,
    update_fn: Callable | None = None,
    *,
    init: Callable | None = None,
    update: Callable | None = None,
  ) -> None:
    init_fn, update_fn = init_fn or init, update_fn or update
    if not callable(init_fn) or not callable(update_fn):
      raise TypeError(
        "GradientTransformation(init, update): both must be functions, got "
        f"init={init_fn!r}, update={update_fn!r}."
      )
    object.__setattr__(self, "init_fn", init_fn)
    object.__setattr__(self, "update_fn", update_fn)

  def init(self, params):
    return self.init_fn(params)

  def update(self, updates, state, params=None, **extra_args):
    names = _extra_arg_names(self.update_fn)
    if names is not None:
      extra_args = {k: v for k, v in extra_args.items() if k in names}
    return self.update_fn(updates, state, params, **extra_args)


def _signature_names(fn: Callable) -> frozenset | None:
  try:
    parameters = list(inspect.signature(fn).parameters.values())
  except (TypeError, ValueError):
    return frozenset()
  if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
    return None
  named = [
    p
    for p in parameters
    if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
  ]
  positional = [p for p in named if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
  return frozenset(p.name for p in named if p not in positional[:3])


_cached_names = functools.lru_cache(maxsize=512)(_signature_names)


def _extra_arg_names(fn: Callable) -> frozenset | None:
  """The keyword arguments `fn` takes after `(updates, state, params)`; None: any (`**kw`)."""
  try:
    return _cached_names(fn)
  except TypeError:  # an unhashable callable
    return _signature_names(fn)


def as_transformation(tx: Any) -> GradientTransformation:
  """A gradtx transformation for a gradtx one (unchanged) or any `(init, update)` pair."""
  if isinstance(tx, GradientTransformation):
    return tx
  try:
    init_fn, update_fn = tx
  except (TypeError, ValueError):
    raise TypeError(
      f"expected a GradientTransformation or an (init, update) pair, got {tx!r}."
    ) from None
  return FromFunctions(init_fn, update_fn)


def with_extra_args_support(tx: Any) -> GradientTransformation:
  """`tx` as a transformation whose `update` accepts (and ignores unknown) extra
  arguments: gradtx transformations already do and are returned unchanged."""
  return as_transformation(tx)


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
