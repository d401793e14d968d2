"""Curvature of a loss `loss(params, inputs, targets)`: Hessian-vector products and the
diagonals of the Hessian and of the (observed) Fisher information (Optax's
`optax.second_order.hvp`, `hessian_diag`, `fisher_diag`; deprecated there since 0.2.7).

Vectors are flat: `v` and the returned diagonals have `ravel(params).size`
entries, in `jax.flatten_util.ravel_pytree` order.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import flatten_util

__all__ = ["hvp", "hessian_diag", "fisher_diag"]

LossFn = Callable[[Any, jax.Array, jax.Array], jax.Array]


def _deprecated(name: str) -> None:
  warnings.warn(
    f"gradtx.second_order.{name} follows optax.second_order.{name}, deprecated "
    "in Optax 0.2.7 and removed in 0.2.9.",
    DeprecationWarning,
    stacklevel=3,
  )


def _hvp(loss: LossFn, v: jax.Array, params: Any, inputs: jax.Array, targets: jax.Array) -> Any:
  flat, unravel = flatten_util.ravel_pytree(params)
  v = jnp.asarray(v)
  if v.shape != flat.shape:
    raise ValueError(
      f"hvp: v has shape {v.shape}; expected ({flat.size},), the size of the flattened params."
    )
  grad = jax.grad(lambda p: loss(p, inputs, targets))
  return jax.jvp(grad, (params,), (unravel(v),))[1]


def hvp(loss: LossFn, v: jax.Array, params: Any, inputs: jax.Array, targets: jax.Array) -> Any:
  """`H v`, with `H` the Hessian of `loss(., inputs, targets)` at `params`, by
  forward-over-reverse differentiation (`jvp` of `grad`), without forming `H`.

  `v` is a flat vector of the params' size; the product is a tree shaped like
  `params`.
  """
  _deprecated("hvp")
  return _hvp(loss, v, params, inputs, targets)


def hessian_diag(loss: LossFn, params: Any, inputs: jax.Array, targets: jax.Array) -> jax.Array:
  """`diag(H)` as a flat vector: `H_ii = e_i^T H e_i`, one Hessian-vector product per
  coordinate (vmapped), so its cost grows with the number of params."""
  _deprecated("hessian_diag")
  n = flatten_util.ravel_pytree(params)[0].size

  def entry(e):
    return jnp.vdot(e, flatten_util.ravel_pytree(_hvp(loss, e, params, inputs, targets))[0])

  return jax.vmap(entry)(jnp.eye(n, dtype=flatten_util.ravel_pytree(params)[0].dtype))


def fisher_diag(
  negative_log_likelihood: LossFn, params: Any, inputs: jax.Array, targets: jax.Array
) -> jax.Array:
  """The diagonal of the observed Fisher information, `g * g` with `g` the flat gradient of
  `negative_log_likelihood(params, inputs, targets)`."""
  _deprecated("fisher_diag")
  grad = jax.grad(negative_log_likelihood)(params, inputs, targets)
  return jnp.square(flatten_util.ravel_pytree(grad)[0])
