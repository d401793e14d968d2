"""The untaken side of a `lax.cond` around an inner transformation: zero updates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["zero_updates_of"]


def zero_updates_of(fn: Callable[..., tuple], *args: Any) -> Any:
  """Zeros shaped and typed like the updates `fn(*args)` returns (its first output),
  traced without running it, so both `lax.cond` branches give the same types."""
  shapes = jax.eval_shape(fn, *args)[0]
  return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
