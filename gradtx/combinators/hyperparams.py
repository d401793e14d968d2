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

from gradtx.core.module import Module, static
from gradtx.numerics.ops import safe_increment, scalar_dtype, zero_count
from gradtx.core.protocol import GradientTransformation
from gradtx.core.named import Frozen, NamedOptimizer, split_arguments

__all__ = ["InjectHyperparams", "InjectHyperparamsState", "hyperparams_of",
           "inject_hyperparams", "set_hyperparams"]


class InjectHyperparamsState(NamedTuple):
  """`count`: steps done; `hyperparams`: name -> scalar used by the last step
  (the initial values before the first); `inner_state`: the wrapped state."""
  count: jax.Array
  hyperparams: dict
  inner_state: Any


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
  schedule_fns: Frozen = static(default_factory=lambda: Frozen({}))
  static_kwargs: Frozen = static(default_factory=lambda: Frozen({}))
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


def inject_hyperparams(inner_factory: Callable[..., Any], static_args: str | tuple[str, ...] = (),
                       hyperparam_dtype: Any = None) -> Callable[..., InjectHyperparams]:
  """Wraps an optimizer factory so its numeric arguments live in the state.

  `inject_hyperparams(gradtx.adamw)(learning_rate=schedule, weight_decay=0.1)`
  stores `learning_rate` (evaluated each step) and `weight_decay` (and every
  other numeric argument given) in `state.hyperparams`. Flags, dtypes, masks
  and the names in `static_args` stay static. Any `(init, update)` factory
  works, gradtx's or Optax's.
  """
  static_args = (static_args,) if isinstance(static_args, str) else tuple(static_args)
  signature = inspect.signature(inner_factory)

  def build(*args: Any, **kwargs: Any) -> InjectHyperparams:
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    return InjectHyperparams(inner_factory, *split_arguments(bound.arguments, static_args),
                             hyperparam_dtype)

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
  """A copy of `tx` with the named hyperparameters replaced.

  Names are those the user wrote: a named optimizer's argument names
  (`set_hyperparams(gradtx.sgd(0.1, momentum=0.9), momentum=0.5)`), an
  injected hyperparameter's name, or a primitive's field name. Each name must
  occur exactly once in `tx`; a missing or ambiguous name raises `ValueError`
  listing where it was (not) found, instead of changing several places.
  """
  found: dict[str, list[str]] = {name: [] for name in changes}

  def rebuild(node: Any, where: str) -> Any:
    if isinstance(node, (InjectHyperparams, NamedOptimizer)):
      hits = {k: v for k, v in changes.items() if k in node.numeric or k in node.schedules}
      for k in hits:
        found[k].append(where)
      numeric = {k: hits.get(k, v) for k, v in node.numeric.items()}
      schedules = {k: hits.get(k, v) for k, v in node.schedules.items()}
      return dataclasses.replace(node, numeric=numeric, schedules=schedules)
    if isinstance(node, Module):
      fields = [f.name for f in dataclasses.fields(node) if not f.metadata.get("static")]
      hits = {k: v for k, v in changes.items() if k in fields}
      for k in hits:
        found[k].append(where)
      rest = {f: rebuild(getattr(node, f), f"{where}.{f}") for f in fields if f not in hits}
      return dataclasses.replace(node, **rest, **hits)
    if isinstance(node, tuple) and not hasattr(node, "_fields"):
      return tuple(rebuild(n, f"{where}[{i}]") for i, n in enumerate(node))
    return node

  result = rebuild(tx, type(tx).__name__)
  missing = sorted(k for k, v in found.items() if not v)
  if missing:
    raise ValueError(f"set_hyperparams: {tx!r} has no hyperparameter named "
                     f"{', '.join(missing)}.")
  ambiguous = {k: v for k, v in found.items() if len(v) > 1}
  if ambiguous:
    raise ValueError("set_hyperparams: ambiguous name(s) " + "; ".join(
        f"{k!r} occurs at {', '.join(v)}" for k, v in ambiguous.items())
                     + ". Set them on the sub-transformation instead.")
  return result
