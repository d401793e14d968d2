"""Hyperparameters injected into the optimizer state (Optax's `inject_hyperparams`).

`inject_hyperparams(factory)(**arguments)` keeps the factory's numeric arguments
in `state.hyperparams`, where they can be read, written between steps and
vmapped over; a schedule given for an argument is evaluated each step and its
value stored there. This lives with the schedules (as in Optax's
`optax.schedules`) because it only needs the protocol below them; the
combinators floor adds `hyperparams_of` and `set_hyperparams` on top.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import warnings
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx.core.module import static
from gradtx.core.named import Frozen, split_arguments
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import compute_dtype, real_dtype, safe_increment, scalar_dtype, zero_count
from gradtx.schedules.stateful import as_stateful

__all__ = [
  "InjectHyperparams",
  "InjectHyperparamsState",
  "InjectStatefulHyperparamsState",
  "inject_hyperparams",
  "inject_stateful_hyperparams",
]


class InjectHyperparamsState(NamedTuple):
  """Optax's earlier state of `inject_hyperparams` (kept for compatibility; the
  wrapper now returns `InjectStatefulHyperparamsState`, as Optax 0.2.8 does)."""

  count: jax.Array
  hyperparams: dict
  inner_state: Any


class InjectStatefulHyperparamsState(NamedTuple):
  """`count`: steps done; `hyperparams`: name -> value used by the last step (the
  initial values before the first); `hyperparams_states`: name -> state of each
  schedule (`WrappedScheduleState(count)` for a schedule of the step count);
  `inner_state`: the wrapped transformation's state."""

  count: jax.Array
  hyperparams: dict
  hyperparams_states: dict
  inner_state: Any


def _highest_float_dtype(tree: Any) -> Any:
  dtypes = [jnp.result_type(x) for x in jax.tree.leaves(tree)]
  dtypes = [d for d in dtypes if jnp.issubdtype(d, jnp.inexact)]
  return functools.reduce(jnp.promote_types, dtypes) if dtypes else None


def _as_dtype(value: Any, dtype: Any, keep_strong: bool) -> Any:
  """Floating values as `dtype`; integers, keys and (if `keep_strong`) arrays that
  carry their own dtype pass through (Optax's rule)."""
  if keep_strong and isinstance(value, jax.Array) and not getattr(value, "weak_type", False):
    return value
  if jnp.issubdtype(jnp.result_type(value), jnp.floating):
    return jnp.asarray(value, dtype)
  return value


def _call_update(inner: Any, updates, state, params, extra_args: dict):
  """`inner.update`, with the extra arguments only if it takes them (a plain Optax
  `GradientTransformation` may not)."""
  if extra_args and not isinstance(inner, GradientTransformation):
    kinds = [p.kind for p in inspect.signature(inner.update).parameters.values()]
    if inspect.Parameter.VAR_KEYWORD not in kinds:
      extra_args = {}
  return inner.update(updates, state, params, **extra_args)


class InjectHyperparams(GradientTransformation):
  """`factory(**hparams)` with the numeric hyperparameters kept in the state.

  Each step: a number is read from `state.hyperparams[name]` (so it can be
  written between steps or vmapped over); a schedule is evaluated from its
  state (the step count for a plain schedule) and its state updated with the
  step's extra arguments. Floating values are stored as `hyperparam_dtype`,
  by default the params' highest float dtype promoted to at least float32
  (Optax uses the params' dtype itself; gradtx never rounds 0.999 to 1.0 for
  bfloat16 params); an array with a dtype of its own keeps it.
  """

  factory: Callable = static()
  numeric: dict = dataclasses.field(default_factory=dict)
  schedules: dict = dataclasses.field(default_factory=dict)
  schedule_fns: Frozen = static(default_factory=lambda: Frozen({}))
  static_kwargs: Frozen = static(default_factory=lambda: Frozen({}))
  hyperparam_dtype: Any = static(default=None)

  def _dtype(self, tree: Any) -> Any:
    if self.hyperparam_dtype is not None:
      return self.hyperparam_dtype
    dtype = _highest_float_dtype(tree)
    return scalar_dtype() if dtype is None else real_dtype(compute_dtype(dtype))

  def _scheduled(self) -> dict:
    return {k: as_stateful(f) for k, f in {**self.schedules, **self.schedule_fns.items}.items()}

  def _inner(self, values: dict) -> Any:
    return self.factory(**self.static_kwargs.items, **values)

  def init(self, params):
    dtype, scheduled = self._dtype(params), self._scheduled()
    values = {k: jnp.asarray(_as_dtype(v, dtype, True)) for k, v in self.numeric.items()}
    states = {k: f.init() for k, f in scheduled.items()}
    values.update({k: _as_dtype(f(states[k]), dtype, False) for k, f in scheduled.items()})
    return InjectStatefulHyperparamsState(
      zero_count(), values, states, self._inner(values).init(params)
    )

  def update(self, updates, state, params=None, **extra_args):
    dtype, scheduled = self._dtype(updates if params is None else params), self._scheduled()
    values = {
      k: _as_dtype(v, dtype, True) for k, v in state.hyperparams.items() if k not in scheduled
    }
    values.update(
      {
        k: _as_dtype(f(state.hyperparams_states[k], **extra_args), dtype, False)
        for k, f in scheduled.items()
      }
    )
    states = {k: f.update(state.hyperparams_states[k], **extra_args) for k, f in scheduled.items()}
    updates, inner_state = _call_update(
      self._inner(values), updates, state.inner_state, params, extra_args
    )
    return updates, InjectStatefulHyperparamsState(
      safe_increment(state.count), values, states, inner_state
    )


def _stays_static(value: Any) -> bool:
  """Python integers and containers (`betas=(0.9, 0.999)`) are passed as given, as
  Optax passes containers; flags, strings, dtypes and masks are `split_arguments`'s."""
  if isinstance(value, (tuple, list, dict)):
    return True
  return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def inject_hyperparams(
  inner_factory: Callable[..., Any],
  static_args: str | Iterable[str] = (),
  hyperparam_dtype: Any = None,
) -> Callable[..., InjectHyperparams]:
  """Wraps an optimizer factory so its numeric arguments live in the state.

  `inject_hyperparams(gradtx.adamw)(learning_rate=schedule, weight_decay=0.1)`
  stores `learning_rate` (evaluated each step) and `weight_decay` (and every
  other floating argument given or defaulted) in `state.hyperparams`. Any
  callable is a schedule (a stateful one if it has `init` and `update`) unless
  named in `static_args`, which must be parameters of `inner_factory`. Flags,
  strings, dtypes, masks, `None`, tuples/lists/dicts and Python integers (step
  counts, sizes, PRNG seeds: they often decide shapes or keys) stay static; pass
  `1.0` instead of `1` to inject a number. Any `(init, update)` factory works, gradtx's or Optax's.
  """
  static_args = (static_args,) if isinstance(static_args, str) else tuple(static_args)
  signature = inspect.signature(inner_factory)
  unknown = sorted(set(static_args) - set(signature.parameters))
  if unknown:
    raise ValueError(
      f"inject_hyperparams: static_args={static_args!r} names {unknown}, "
      f"which are not parameters of {getattr(inner_factory, '__name__', '')}"
      f"{signature}."
    )

  @functools.wraps(inner_factory)
  def build(*args: Any, **kwargs: Any) -> InjectHyperparams:
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    kept = tuple(k for k, v in bound.arguments.items() if _stays_static(v))
    return InjectHyperparams(
      inner_factory, *split_arguments(bound.arguments, static_args + kept), hyperparam_dtype
    )

  return build


def inject_stateful_hyperparams(
  inner_factory: Callable[..., Any],
  static_args: str | Iterable[str] = (),
  hyperparam_dtype: Any = None,
) -> Callable[..., InjectHyperparams]:
  """Deprecated in Optax (0.1.9) in favour of `inject_hyperparams`, which accepts
  stateful schedules too; the same wrapper, with a `DeprecationWarning`."""
  warnings.warn(
    "inject_stateful_hyperparams is deprecated, use inject_hyperparams instead.",
    DeprecationWarning,
    stacklevel=2,
  )
  return inject_hyperparams(inner_factory, static_args, hyperparam_dtype)
