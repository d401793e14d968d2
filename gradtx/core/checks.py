"""Construction-time validation of hyperparameters (concrete values only).

A traced value (an optimizer built inside `jax.vmap` or `jax.jit`) is never
converted to a Python bool: checks are skipped for it, so sweeps keep working.
Every error is a `ValueError` (a `TypeError` for a non-number) that names the
factory, the argument as the caller spelled it, and the value given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.core  # `jax.core.Tracer`: jax imports the submodule but does not export it
import numpy as np


def concrete(value: Any) -> np.ndarray | None:
  """`value` as a NumPy array, or None if it is traced or not numeric."""
  if value is None or callable(value) or isinstance(value, jax.core.Tracer):
    return None
  try:
    return np.asarray(value)
  except Exception:  # pylint: disable=broad-except
    return None


def check(
  owner: str, name: str, value: Any, ok: Callable[[np.ndarray], Any], expected: str
) -> None:
  """Raises ValueError naming `owner(name=value)` if a concrete value fails `ok`."""
  arr = concrete(value)
  if arr is None or arr.dtype == object:
    return
  if arr.dtype.kind in "US":
    raise TypeError(f"{owner}: {name}={value!r} is invalid; expected a real number ({expected}).")
  if not bool(np.all(ok(arr))):
    raise ValueError(f"{owner}: {name}={value!r} is invalid; expected {expected}.")


def decay_rate(owner: str, name: str, value: Any) -> None:
  """A decay / momentum / beta: `0 <= value < 1`."""
  check(owner, name, value, lambda v: (v >= 0) & (v < 1), "a value in [0, 1)")


def unit_interval(owner: str, name: str, value: Any) -> None:
  """A mixing weight that may be 1 (e.g. Lion's `b1`): `0 <= value <= 1`."""
  check(owner, name, value, lambda v: (v >= 0) & (v <= 1), "a value in [0, 1]")


def non_negative(owner: str, name: str, value: Any) -> None:
  """An epsilon, an initial accumulator, a step offset: `value >= 0`."""
  check(owner, name, value, lambda v: v >= 0, "a value >= 0")


def positive(owner: str, name: str, value: Any) -> None:
  """A threshold, a number of steps: `value > 0`."""
  check(owner, name, value, lambda v: v > 0, "a value > 0")


def positive_integer(owner: str, name: str, value: Any) -> None:
  """A count such as `every_k` or `steps_per_epoch`: a whole number >= 1."""
  check(owner, name, value, lambda v: (v >= 1) & (v == np.floor(v)), "an integer >= 1")


def greater(owner: str, name: str, value: Any, other_name: str, other: Any) -> None:
  """`value > other` for two arguments of the same factory (e.g. `decay_steps` and
  `warmup_steps`); skipped unless both are concrete."""
  a, b = concrete(value), concrete(other)
  if a is None or b is None or a.dtype == object or b.dtype == object:
    return
  if not bool(np.all(a > b)):
    raise ValueError(
      f"{owner}: {name}={value!r} is invalid; expected a value > {other_name}={other!r}."
    )
