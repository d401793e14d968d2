"""Hyperparameters as data: read them from a state, inject them into it, change them.

gradtx optimizers are already pytrees of their numeric hyperparameters, so a
sweep is `jax.vmap` over an optimizer built from traced values, and a new
learning rate passed into a jitted step reuses the compiled code. This module
adds three conveniences on top:

* `hyperparams_of(state)`: the effective values the last step used (learning
  rate, weight decay, clip scale, gradient norm, injected values), by name.
* `inject_hyperparams(factory)(**hparams)`: keeps the current values in
  `state.hyperparams`, where they can be read, written and vmapped over.
* `set_hyperparams(tx, **changes)`: a copy of `tx` with hyperparameters
  changed by name, wherever they sit inside a chain.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from gradtx._module import Module, static
from gradtx._numerics import safe_increment, scalar_dtype, zero_count
from gradtx.base import GradientTransformation

__all__ = ["InjectHyperparams", "InjectHyperparamsState", "hyperparams_of",
           "inject_hyperparams", "set_hyperparams"]


class InjectHyperparamsState(NamedTuple):
  """`count`: steps done; `hyperparams`: name -> scalar used by the last step
  (the initial values before the first); `inner_state`: the wrapped state."""
  count: jax.Array
  hyperparams: dict
  inner_state: Any


class _Frozen:
  """Hashable holder of static keyword arguments (values may be unhashable)."""

  __slots__ = ("items",)

  def __init__(self, items: dict) -> None:
    self.items = dict(items)

  def __eq__(self, other: object) -> bool:
    if not isinstance(other, _Frozen) or self.items.keys() != other.items.keys():
      return False
    return all(a is b or _safe_eq(a, b) for a, b in
               zip(self.items.values(), other.items.values()))

  def __hash__(self) -> int:
    return hash(tuple(sorted(self.items)))

  def __repr__(self) -> str:
    return repr(self.items)


def _safe_eq(a: Any, b: Any) -> bool:
  try:
    return bool(a == b)
  except Exception:  # pylint: disable=broad-except
    return False


class InjectHyperparams(GradientTransformation):
  """`factory(**hparams)` with the numeric hyperparameters kept in the state.

  Each step: a number is read from `state.hyperparams[name]` (so it can be
  written between steps or vmapped over); a schedule is evaluated at the
  step count. The values used are stored back, as scalars of
  `hyperparam_dtype` (float32, or float64 in x64 mode; never the params'
  dtype, so 0.999 is not rounded to 1.0 for bfloat16 params).
  """

  factory: Callable = static()
  numeric: dict = dataclasses.field(default_factory=dict)
  schedules: dict = dataclasses.field(default_factory=dict)
  schedule_fns: _Frozen = static(default_factory=lambda: _Frozen({}))
  static_kwargs: _Frozen = static(default_factory=lambda: _Frozen({}))
  hyperparam_dtype: Any = static(None)

  def _dtype(self) -> Any:
    return self.hyperparam_dtype or scalar_dtype()

  def _values(self, count: jax.Array, stored: dict | None) -> dict:
    values = {}
    for name, value in self.numeric.items():
      values[name] = stored[name] if stored is not None else value
    for name, fn in {**self.schedules, **self.schedule_fns.items}.items():
      values[name] = fn(count)
    return {k: jnp.asarray(v, self._dtype()) for k, v in values.items()}

  def _inner(self, values: dict) -> GradientTransformation:
    return self.factory(**values, **self.static_kwargs.items)

  def init(self, params):
    count = zero_count()
    values = self._values(count, None)
    return InjectHyperparamsState(count, values, self._inner(values).init(params))

  def update(self, updates, state, params=None, **extra_args):
    values = self._values(state.count, state.hyperparams)
    updates, inner_state = self._inner(values).update(
        updates, state.inner_state, params, **extra_args)
    return updates, InjectHyperparamsState(safe_increment(state.count), values, inner_state)


def _is_static(name: str, value: Any, static_args: tuple[str, ...]) -> bool:
  """Flags, strings, dtypes, masks and `static_args` are static; numbers,
  numeric arrays and schedules (callables) are hyperparameters."""
  if name in static_args or value is None or isinstance(value, (bool, str, type, jnp.dtype)):
    return True
  if callable(value):
    return False
  try:
    return not jnp.issubdtype(jnp.asarray(value).dtype, jnp.number)
  except TypeError:
    return True


def inject_hyperparams(factory: Callable[..., Any], static_args: str | tuple[str, ...] = (),
                       hyperparam_dtype: Any = None) -> Callable[..., InjectHyperparams]:
  """Wraps an optimizer factory so its numeric arguments live in the state.

  `inject_hyperparams(gradtx.adamw)(learning_rate=schedule, weight_decay=0.1)`
  stores `learning_rate` (evaluated each step) and `weight_decay` (and every
  other numeric argument given) in `state.hyperparams`. Flags, dtypes, masks
  and the names in `static_args` stay static. Any `(init, update)` factory
  works, gradtx's or Optax's.
  """
  static_args = (static_args,) if isinstance(static_args, str) else tuple(static_args)
  signature = inspect.signature(factory)

  def build(*args: Any, **kwargs: Any) -> InjectHyperparams:
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    numeric, schedules, schedule_fns, static_kwargs = {}, {}, {}, {}
    for name, value in bound.arguments.items():
      if _is_static(name, value, static_args):
        static_kwargs[name] = value
      elif isinstance(value, Module):
        schedules[name] = value
      elif callable(value):
        schedule_fns[name] = value
      else:
        numeric[name] = value
    return InjectHyperparams(factory, numeric, schedules, _Frozen(schedule_fns),
                             _Frozen(static_kwargs), hyperparam_dtype)

  return build


def _hp_fields(node: Any) -> tuple[str, ...] | None:
  return getattr(type(node), "_hyperparams", None) if isinstance(node, tuple) else None


def _scope(node: Any) -> dict | None:
  """Label -> state of a state that holds groups (`partition`), else None."""
  field = getattr(type(node), "_hyperparam_scopes", None) if isinstance(node, tuple) else None
  return getattr(node, field) if field else None


def hyperparams_of(state: Any) -> dict[str, jax.Array]:
  """The hyperparameters the last step used, by name, read from any state.

  Collects injected values (`inject_hyperparams`) and the values that
  transformations record in their states: `learning_rate`, `weight_decay`,
  `grad_norm` and `clip_scale` (global-norm clipping), `scale` (a schedule).
  Parameter groups (`partition`, `param_groups`, `freeze`) prefix their
  label: `default/learning_rate`, `group0/weight_decay`. A name met twice in
  one scope gets a suffix: `learning_rate`, `learning_rate[1]`, ...
  """
  found: dict[str, jax.Array] = {}

  def add(name: str, value: jax.Array) -> None:
    key, i = name, 0
    while key in found:
      i += 1
      key = f"{name}[{i}]"
    found[key] = value

  def visit(tree: Any, skip: frozenset, prefix: str) -> None:
    is_node = lambda x: (isinstance(x, InjectHyperparamsState) or _hp_fields(x) is not None
                         or _scope(x) is not None)
    for node in jax.tree.leaves(tree, is_leaf=is_node):
      if isinstance(node, InjectHyperparamsState):
        for name, value in node.hyperparams.items():
          add(prefix + name, value)
        visit(node.inner_state, skip | frozenset(node.hyperparams), prefix)
      elif _scope(node) is not None:
        for label, sub in _scope(node).items():
          visit(sub, skip, f"{prefix}{label}/")
      elif _hp_fields(node) is not None:
        for name in _hp_fields(node):
          if name not in skip:
            add(prefix + name, getattr(node, name))

  visit(state, frozenset(), "")
  return found


def set_hyperparams(tx: Any, **changes: Any) -> Any:
  """A copy of `tx` with the named hyperparameters replaced wherever they occur.

  `set_hyperparams(gradtx.adamw(1e-3), learning_rate=1e-4, weight_decay=0.0)`.
  Raises `ValueError` naming the hyperparameters that `tx` does not have.
  """
  used: set[str] = set()

  def rebuild(node: Any) -> Any:
    if isinstance(node, InjectHyperparams):
      hits = {k: v for k, v in changes.items() if k in node.numeric or k in node.schedules}
      used.update(hits)
      numeric = {k: hits.get(k, v) for k, v in node.numeric.items()}
      schedules = {k: hits.get(k, v) for k, v in node.schedules.items()}
      return dataclasses.replace(node, numeric=numeric, schedules=schedules)
    if isinstance(node, Module):
      names = {f.name for f in dataclasses.fields(node) if not f.metadata.get("static")}
      hits = {k: v for k, v in changes.items() if k in names}
      used.update(hits)
      rest = {f.name: rebuild(getattr(node, f.name)) for f in dataclasses.fields(node)
              if f.name not in hits and not f.metadata.get("static")}
      return dataclasses.replace(node, **rest, **hits)
    if isinstance(node, tuple) and not hasattr(node, "_fields"):
      return tuple(rebuild(n) for n in node)
    return node

  result = rebuild(tx)
  missing = sorted(set(changes) - used)
  if missing:
    raise ValueError(f"set_hyperparams: {type(tx).__name__} has no hyperparameter named "
                     f"{', '.join(missing)}.")
  return result
