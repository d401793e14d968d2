"""Projections onto the simplex and onto l1 / l2 balls and spheres, of a whole tree taken as
one vector (Optax's `projection_simplex`, `projection_l1_sphere`, `projection_l1_ball`,
`projection_l2_sphere`, `projection_l2_ball`)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import flatten_util

from gradtx.tree_utils.arithmetic import tree_mul, tree_scale
from gradtx.tree_utils.reductions import tree_norm

__all__ = [
  "projection_simplex",
  "projection_l1_sphere",
  "projection_l1_ball",
  "projection_l2_sphere",
  "projection_l2_ball",
]


@jax.custom_jvp
def _unit_simplex(v: jax.Array) -> jax.Array:
  """`argmin_{p >= 0, sum p = 1} ||v - p||^2 = max(v - theta, 0)`.

  The threshold `theta = (sum_{j <= k} u_j - 1) / k` over the sorted values
  `u_1 >= u_2 >= ...`, with `k` the largest index where `u_k > theta_k`
  (Held, Wolfe & Crowder 1974; Duchi et al. 2008).
  """
  u = jnp.sort(v)[::-1]
  partial = jnp.cumsum(u)
  k = jnp.arange(1, v.shape[0] + 1, dtype=v.dtype)
  active = jnp.count_nonzero(u - (partial - 1) / k > 0)
  theta = (partial[active - 1] - 1) / active.astype(v.dtype)
  return jnp.maximum(v - theta, 0)


@_unit_simplex.defjvp
def _unit_simplex_jvp(primals, tangents):
  """On the support `S` of the projection the map is `v -> v - mean_S(v) + 1/|S|`, so its
  derivative is `dv - mean_S(dv)` on `S` and 0 elsewhere."""
  (v,), (dv,) = primals, tangents
  p = _unit_simplex(v)
  support = (p > 0).astype(dv.dtype)
  mean = jnp.vdot(support, dv) / jnp.sum(support)
  return p, support * (dv - mean)


def projection_simplex(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
  """The projection onto `{p >= 0, sum(p) = scale}`, all leaves taken as one vector:
  `scale * P(x / scale)` with `P` the projection onto the unit simplex."""
  values, unravel = flatten_util.ravel_pytree(tree)
  return unravel(_unit_simplex(values / scale) * scale)


def projection_l1_sphere(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
  """The projection onto `||p||_1 = scale`: `sign(x) * P_simplex(|x|, scale)`."""
  magnitudes = projection_simplex(jax.tree.map(jnp.abs, tree), scale)
  return tree_mul(jax.tree.map(jnp.sign, tree), magnitudes)


def projection_l1_ball(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
  """The projection onto `||p||_1 <= scale`: `x` inside the ball, else its projection onto
  the sphere."""
  return jax.lax.cond(
    tree_norm(tree, ord=1) <= scale, lambda t: t, lambda t: projection_l1_sphere(t, scale), tree
  )


def projection_l2_sphere(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
  """The projection onto `||p||_2 = scale`: `scale * x / ||x||_2`."""
  return tree_scale(scale / tree_norm(tree), tree)


def projection_l2_ball(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
  """The projection onto `||p||_2 <= scale`: `x * scale / max(||x||_2, scale)`."""
  sq_norm = tree_norm(tree, squared=True)
  return tree_scale(scale / jnp.sqrt(jnp.maximum(sq_norm, scale**2)), tree)
