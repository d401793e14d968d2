"""Kronecker-factor helpers shared by Shampoo and SOAP: one-sided statistics of a tensor,
inverse p-th roots of symmetric PSD matrices, and the mode-k products that rotate a tensor."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from gradtx.numerics.linalg import matrix_inverse_pth_root

__all__ = ["mode_statistic", "inverse_root", "mode_product", "EMPTY"]

# Placeholder state for a dimension that has no factor (0 elements, so nothing is stored).
EMPTY = (0,)


def mode_statistic(g: jax.Array, k: int) -> jax.Array:
  """`G_(k) G_(k)^T`: `g` contracted with itself over every dimension but `k`."""
  axes = [i for i in range(g.ndim) if i != k]
  return jnp.tensordot(g, g, axes=(axes, axes))


def mode_product(g: jax.Array, mats: Sequence[jax.Array | None], transpose: bool) -> jax.Array:
  """`g x_0 M_0 x_1 M_1 ...`: each dimension `k` of `g` multiplied by `M_k^T` (`transpose`,
  into the basis) or `M_k` (back out); a `None` factor leaves its dimension as it is. Each
  contraction moves the dimension it works on to the end, so after `ndim` of them the
  original order is back (the reference SOAP's `project` / `project_back`)."""
  for m in mats:
    if m is None:
      g = jnp.moveaxis(g, 0, -1)
    else:
      g = jnp.tensordot(g, m, axes=([0], [0] if transpose else [1]))
  return g


def inverse_root(s: jax.Array, p: int, eps: jax.Array, method: str = "eigh") -> jax.Array:
  """`(S + eps * lambda_max(S) I)^(-1/p)` for a stack `s[..., n, n]` of symmetric PSD
  matrices (Anil et al. 2020 use the ridge relative to the largest eigenvalue).

  `method="eigh"`: `V diag((max(w, 0) + eps max(lambda_max, 1e-16))^(-1/p)) V^T` from one
  batched `eigh`; `"newton"`: the coupled Newton iteration
  (`gradtx.numerics.matrix_inverse_pth_root`), vmapped over the stack.
  """
  if method == "newton":
    flat = s.reshape((-1,) + s.shape[-2:])
    roots = jax.vmap(lambda a: matrix_inverse_pth_root(a, p, ridge_epsilon=eps)[0])(flat)
    return roots.reshape(s.shape)
  w, v = jnp.linalg.eigh(s)
  w = jnp.maximum(w, 0)
  ridge = eps * jnp.maximum(jnp.max(w, axis=-1, keepdims=True), 1e-16)
  scaled = v * ((w + ridge) ** (-1.0 / p))[..., None, :]
  return jnp.matmul(scaled, jnp.swapaxes(v, -1, -2), precision=jax.lax.Precision.HIGHEST)
