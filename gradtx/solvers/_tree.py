"""Private tree arithmetic of the solvers: inner products, axpy, casts, selection.

The solvers treat the params as one vector. Every scalar here (inner
products, norms) is a real number in the solvers' scalar dtype; leaves keep
their own dtypes.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx.numerics.ops import cast, compute_dtype, real_dtype


def value_dtype(params: Any) -> jnp.dtype:
  """Real dtype of the objective's value and of step sizes: the first leaf's real dtype,
  at least float32 (`compute_dtype`)."""
  leaves = jax.tree.leaves(params)
  if not leaves:
    raise ValueError("the solvers need at least one parameter leaf; got an empty tree.")
  return real_dtype(compute_dtype(jnp.result_type(leaves[0])))


def vdot(a: Any, b: Any, dtype: Any) -> jax.Array:
  """`Re <a, b> = Re sum(conj(a) * b)` over all leaves, in `dtype` (real)."""

  def leaf(x, y):
    cdt = jnp.promote_types(compute_dtype(jnp.result_type(x)), compute_dtype(jnp.result_type(y)))
    dot = jnp.vdot(
      cast(jnp.asarray(x), cdt), cast(jnp.asarray(y), cdt), precision=jax.lax.Precision.HIGHEST
    )
    return jnp.real(dot).astype(dtype)

  parts: list[jax.Array] = jax.tree.leaves(jax.tree.map(leaf, a, b))
  return sum(parts[1:], parts[0]) if parts else jnp.zeros([], dtype)


def conj(tree: Any) -> Any:
  """Complex conjugate leafwise (real leaves unchanged)."""
  return jax.tree.map(lambda x: jnp.conj(x) if jnp.iscomplexobj(x) else x, tree)


def sq_norm(tree: Any, dtype: Any) -> jax.Array:
  """`sum |x|^2` over all leaves, real, in `dtype`."""
  return vdot(tree, tree, dtype)


def axpy(alpha: jax.Array, x: Any, y: Any) -> Any:
  """`alpha * x + y` leafwise, computed in the compute dtype, cast to `y`'s dtypes."""

  def leaf(xi, yi):
    cdt = compute_dtype(jnp.result_type(yi))
    out = cast(alpha, real_dtype(cdt)) * cast(jnp.asarray(xi), cdt) + cast(jnp.asarray(yi), cdt)
    return cast(out, jnp.result_type(yi))

  return jax.tree.map(leaf, x, y)


def scale(alpha: jax.Array, tree: Any) -> Any:
  """`alpha * x` leafwise in each leaf's dtype; exactly 0 where `alpha` is 0, so a
  rejected step (alpha = 0) along a non-finite direction is a zero update, not NaN."""

  def leaf(x):
    cdt = compute_dtype(jnp.result_type(x))
    out = cast(alpha, real_dtype(cdt)) * cast(jnp.asarray(x), cdt)
    return cast(jnp.where(alpha == 0, jnp.zeros_like(out), out), jnp.result_type(x))

  return jax.tree.map(leaf, tree)


def select(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
  """`on_true` where the scalar `pred` holds, else `on_false`, leafwise (same dtypes)."""
  return jax.tree.map(
    lambda a, b: jnp.where(pred, a, b).astype(jnp.result_type(b)), on_true, on_false
  )


def cast_like(tree: Any, like: Any) -> Any:
  """Each leaf of `tree` cast to the dtype of the matching leaf of `like` (a state keeps
  its dtypes across steps, so `lax.cond` / `lax.while_loop` accept it)."""
  return jax.tree.map(lambda x, y: cast(jnp.asarray(x), jnp.result_type(y)), tree, like)
