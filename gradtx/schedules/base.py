"""The schedule base class, the scalar cast every schedule uses, and the one-time
warning for arguments Optax turns into a constant schedule.

A schedule maps the number of updates done so far, `count` (0 on the first
step), to a scalar. Every numeric argument is a pytree leaf, so schedules can
be built from traced values (`jax.vmap` sweeps over a decay rate) and passing a
new value into a jitted step does not recompile. Any plain Python callable
`count -> value` may be used wherever a schedule is accepted.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np

from gradtx.core import checks as _checks
from gradtx.core.module import Module
from gradtx.numerics.ops import scalar_dtype

__all__ = ["Schedule", "ScheduleArgumentWarning"]

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


class Schedule(Module):
  """Base class of the built-in schedules: `value = schedule(count)`."""

  def __call__(self, count: Any) -> jnp.ndarray:
    raise NotImplementedError


class ScheduleArgumentWarning(UserWarning):
  """An argument that Optax accepts and turns into a constant (or clamped) schedule."""


def as_float(x: Any) -> jnp.ndarray:
  """A schedule operand as a scalar of the hoisted-scalar dtype (float32, float64 in x64)."""
  return jnp.asarray(x, dtype=scalar_dtype())


def not_nan(owner: str, name: str, value: Any) -> None:
  """Refuses a NaN step count or boundary (it would make every value NaN)."""
  _checks.check(owner, name, value, lambda v: ~np.isnan(v), "a number, not NaN")


def holds(value: Any, predicate: Callable[[np.ndarray], Any]) -> bool:
  """`predicate(value)` for a concrete value; False for a traced one (whose case the
  schedule then decides at run time with `jnp.where`)."""
  arr = _checks.concrete(value)
  return arr is not None and arr.dtype != object and bool(np.all(predicate(arr)))


def warn_argument(owner: str, message: str) -> None:
  """Warns once per call site (Python's default filter) about an argument Optax
  accepts and handles as `message` says; the warning points at the caller's line,
  the first frame outside gradtx."""
  level, frame = 2, sys._getframe(1)  # pylint: disable=protected-access
  while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
    level, frame = level + 1, frame.f_back
  warnings.warn(f"{owner}: {message}", ScheduleArgumentWarning, stacklevel=level)
