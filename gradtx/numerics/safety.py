"""Optax's public numerically safe helpers: norms with a floor whose gradient is finite at
0, and a counter increment that saturates instead of overflowing."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gradtx.numerics.ops import abs_sq

__all__ = ["safe_norm", "safe_root_mean_squares", "safe_increment", "safe_int32_increment"]


def safe_norm(
  x: jax.typing.ArrayLike,
  min_norm: jax.typing.ArrayLike,
  ord: int | float | str | None = None,  # pylint: disable=redefined-builtin
  axis: tuple[int, ...] | int | None = None,
  keepdims: bool = False,
) -> jax.Array:
  """`max(||x||, min_norm)` (`jnp.linalg.norm` with `ord`, `axis`), with gradient 0, not
  NaN, where the norm is at most `min_norm` (e.g. at `x = 0`)."""
  x = jnp.asarray(x)
  norm = jnp.linalg.norm(x, ord=ord, axis=axis, keepdims=True)
  below = norm <= min_norm
  safe = jnp.linalg.norm(jnp.where(below, jnp.ones_like(x), x), ord=ord, axis=axis, keepdims=True)
  out = jnp.where(below, min_norm, safe)
  return out if keepdims else jnp.squeeze(out, axis=axis)


def safe_root_mean_squares(x: jax.typing.ArrayLike, min_rms: jax.typing.ArrayLike) -> jax.Array:
  """`max(sqrt(mean(|x|^2)), min_rms)`, with gradient 0, not NaN, where the floor is taken."""
  x = jnp.asarray(x)
  rms = lambda y: jnp.sqrt(jnp.mean(abs_sq(y)))
  below = rms(x) <= min_rms
  return jnp.where(below, min_rms, rms(jnp.where(below, jnp.ones_like(x), x)))


def safe_increment(count: jax.typing.ArrayLike) -> jax.Array:
  """`count + 1`, staying at the dtype's largest value instead of overflowing.

  Works for any integer or floating dtype (the step counters are int32).
  """
  count = jnp.asarray(count)
  dtype = count.dtype
  if jnp.issubdtype(dtype, jnp.integer):
    largest = jnp.iinfo(dtype).max
  elif jnp.issubdtype(dtype, jnp.floating):
    largest = jnp.finfo(dtype).max
  else:
    raise ValueError(
      f"safe_increment: count has dtype {dtype}; expected an integer or floating-point counter."
    )
  largest = jnp.asarray(largest, dtype)
  return jnp.where(count < largest, count + jnp.asarray(1, dtype), largest)


safe_int32_increment = safe_increment  # Optax's older spelling of the same function
