"""Construction-time validation of hyperparameters (concrete values only).

A traced value (an optimizer built inside `jax.vmap` or `jax.jit`) is never
converted to a Python bool: checks are skipped for it, so sweeps keep working.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np


def concrete(value: Any) -> np.ndarray | None:
  """`value` as a NumPy array, or None if it is traced or not numeric."""
  if value is None or callable(value) or isinstance(value, jax.core.Tracer):
    return None
  try:
    return np.asarray(value)
  except Exception:  # pylint: disable=broad-except
    return None


def check(owner: str, name: str, value: Any, ok: Callable[[np.ndarray], Any],
          expected: str) -> None:
  """Raises ValueError naming `owner(name=value)` if a concrete value fails `ok`."""
  arr = concrete(value)
  if arr is None or arr.dtype == object:
    return
  if not bool(np.all(ok(arr))):
    raise ValueError(f"{owner}: {name}={value!r} is invalid; expected {expected}.")


def decay_rate(owner: str, name: str, value: Any) -> None:
  check(owner, name, value, lambda v: (v >= 0) & (v < 1), "a value in [0, 1)")


def non_negative(owner: str, name: str, value: Any) -> None:
  check(owner, name, value, lambda v: v >= 0, "a value >= 0")


def positive(owner: str, name: str, value: Any) -> None:
  check(owner, name, value, lambda v: v > 0, "a value > 0")
