"""Named optimizers as data: a factory together with its arguments.

`gradtx.adam(1e-3)` is a `NamedOptimizer` holding the builder of Adam's chain
and the arguments it was called with, under the factory's own names
(`learning_rate`, `b1`, `momentum`, ...). Numbers are pytree leaves (no
recompile when they change, `vmap` sweeps), schedules given as gradtx
schedules are pytrees too, and flags, dtypes, masks and plain-function
schedules are static. The chain is rebuilt from the arguments at each
`init`/`update`, which costs nothing at run time under `jit`, so
`set_hyperparams(sgd(0.1, momentum=0.9), momentum=0.5)` changes exactly the
argument the user named.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

from gradtx.core.module import Module, static
from gradtx.core.protocol import GradientTransformation

__all__ = ["NamedOptimizer", "named_optimizer", "split_arguments"]


class Frozen:
  """Hashable holder of static keyword arguments (values may be unhashable)."""

  __slots__ = ("items",)

  def __init__(self, items: dict) -> None:
    self.items = dict(items)

  def __eq__(self, other: object) -> bool:
    if not isinstance(other, Frozen) or self.items.keys() != other.items.keys():
      return False
    return all(a is b or _safe_eq(a, b) for a, b in zip(self.items.values(), other.items.values()))

  def __hash__(self) -> int:
    return hash(tuple(sorted(self.items)))

  def __repr__(self) -> str:
    return repr(self.items)


def _safe_eq(a: Any, b: Any) -> bool:
  try:
    return bool(a == b)
  except Exception:  # pylint: disable=broad-except
    return False


def _is_static(name: str, value: Any, static_args: tuple[str, ...]) -> bool:
  """Flags, strings, dtypes, masks and `static_args` are static; numbers,
  numeric arrays and schedules (callables) are hyperparameters."""
  if name in static_args or "mask" in name or value is None:
    return True
  if isinstance(value, (bool, str, type, jnp.dtype)):
    return True
  if callable(value):
    return False
  try:
    return not jnp.issubdtype(jnp.asarray(value).dtype, jnp.number)
  except TypeError:
    return True


def split_arguments(
  arguments: dict, static_args: tuple[str, ...] = ()
) -> tuple[dict, dict, Frozen, Frozen]:
  """`(numeric, schedules, schedule_fns, static)`: numbers, gradtx schedules
  (pytrees), plain callables (static) and static arguments."""
  numeric, schedules, schedule_fns, static_kwargs = {}, {}, {}, {}
  for name, value in arguments.items():
    if _is_static(name, value, static_args):
      static_kwargs[name] = value
    elif isinstance(value, Module):
      schedules[name] = value
    elif callable(value):
      schedule_fns[name] = value
    else:
      numeric[name] = value
  return numeric, schedules, Frozen(schedule_fns), Frozen(static_kwargs)


class NamedOptimizer(GradientTransformation):
  """`build(**arguments)`, kept as the builder and its arguments."""

  build: Callable = static()
  numeric: dict = dataclasses.field(default_factory=dict)
  schedules: dict = dataclasses.field(default_factory=dict)
  schedule_fns: Frozen = static(default_factory=lambda: Frozen({}))
  static_kwargs: Frozen = static(default_factory=lambda: Frozen({}))

  def __post_init__(self):
    try:
      self.transformation()  # validates concrete arguments at construction
    except ValueError as error:
      name = self.build.__name__.lstrip("_")
      if str(error).startswith(f"{name}:"):
        raise
      raise ValueError(f"{name}: {error}") from None

  def arguments(self) -> dict:
    """The arguments, by the factory's names."""
    return {**self.numeric, **self.schedules, **self.schedule_fns.items, **self.static_kwargs.items}

  def transformation(self) -> GradientTransformation:
    """The chain these arguments build."""
    return self.build(**self.arguments())

  def init(self, params):
    return self.transformation().init(params)

  def update(self, updates, state, params=None, **extra_args):
    return self.transformation().update(updates, state, params, **extra_args)

  def __repr__(self) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in self.arguments().items())
    return f"{self.build.__name__.lstrip('_')}({args})"


def named_optimizer(
  build: Callable[..., GradientTransformation], static_args: tuple[str, ...] = ()
) -> Callable[..., NamedOptimizer]:
  """Turns a chain builder `_name(...)` into the public factory `name(...)`;
  `static_args` are numbers that decide shapes or structure (never traced)."""
  signature = inspect.signature(build)

  @functools.wraps(build)
  def factory(*args: Any, **kwargs: Any) -> NamedOptimizer:
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    return NamedOptimizer(build, *split_arguments(bound.arguments, static_args))

  factory.__name__ = factory.__qualname__ = build.__name__.lstrip("_")
  return factory
