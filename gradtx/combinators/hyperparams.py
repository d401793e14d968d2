"""Hyperparameters as data: read them from a state, inject them into it, change them.

gradtx optimizers are already pytrees of their numeric hyperparameters, so a
sweep is `jax.vmap` over an optimizer built from traced values, and a new
learning rate passed into a jitted step reuses the compiled code. This module
adds three conveniences on top:

* `hyperparams_of(state)`: the effective values the last step used (learning
  rate, weight decay, clip scale, gradient norm, injected values), by name.
* `inject_hyperparams(factory)(**hparams)`: keeps the current values in
  `state.hyperparams`, where they can be read, written and vmapped over
  (defined with the schedules, `gradtx/schedules/inject.py`, as in Optax's
  `optax.schedules`; re-exported here).
* `set_hyperparams(tx, **changes)`: a copy of `tx` with hyperparameters
  changed by name, wherever they sit inside a chain.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax

from gradtx.core.module import Module
from gradtx.core.named import NamedOptimizer
from gradtx.schedules.inject import (
  InjectHyperparams,
  InjectHyperparamsState,
  InjectStatefulHyperparamsState,
  inject_hyperparams,
  inject_stateful_hyperparams,
)

__all__ = [
  "InjectHyperparams",
  "InjectHyperparamsState",
  "InjectStatefulHyperparamsState",
  "hyperparams_of",
  "inject_hyperparams",
  "inject_stateful_hyperparams",
  "set_hyperparams",
]

_INJECTED = (InjectHyperparamsState, InjectStatefulHyperparamsState)


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
    is_node = lambda x: (
      isinstance(x, _INJECTED) or _hp_fields(x) is not None or _scope(x) is not None
    )
    for node in jax.tree.leaves(tree, is_leaf=is_node):
      scope, names = _scope(node), _hp_fields(node)
      if isinstance(node, _INJECTED):
        for name, value in node.hyperparams.items():
          add(prefix + name, value)
        visit(node.inner_state, skip | frozenset(node.hyperparams), prefix)
      elif scope is not None:
        for label, sub in scope.items():
          visit(sub, skip, f"{prefix}{label}/")
      elif names is not None:
        for name in names:
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
    raise ValueError(f"set_hyperparams: {tx!r} has no hyperparameter named {', '.join(missing)}.")
  ambiguous = {k: v for k, v in found.items() if len(v) > 1}
  if ambiguous:
    raise ValueError(
      "set_hyperparams: ambiguous name(s) "
      + "; ".join(f"{k!r} occurs at {', '.join(v)}" for k, v in ambiguous.items())
      + ". Set them on the sub-transformation instead."
    )
  return result
