"""Newton-Schulz orthogonalization of (batches of) matrices: the polar factor `U V^H` of
`X = U S V^H`, approximately, by a fixed number of quintic iterations (Muon's kernel)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx.numerics.ops import abs_sq, compute_dtype, hyper

__all__ = ["newton_schulz", "PRECONDITIONINGS"]

PRECONDITIONINGS = ("frobenius", "spectral", "aol", "schatten")


def _mT(x: jax.Array) -> jax.Array:
  return jnp.swapaxes(x, -1, -2).conj()


def _gram(x: jax.Array) -> jax.Array:
  """`A = X X^H`, accumulated in the compute dtype (float32 for bfloat16) and rounded once to `X`'s dtype."""
  return jnp.matmul(x, _mT(x), preferred_element_type=compute_dtype(x.dtype)).astype(x.dtype)


def _step(x: jax.Array, a: jax.Array, c: jax.Array) -> jax.Array:
  """`c0 X + (c1 A + c2 A A) X` with `A = X X^H` given. For a bfloat16 / float16 `X`, as
  torch's two `addmm`: `B = c1 A + c2 A A` and `c0 X + B X` are each accumulated in
  float32 (coefficients too) and rounded once; in float32 / float64 plain arithmetic."""
  acc = compute_dtype(x.dtype)
  c = c.astype(acc)
  aa = jnp.matmul(a, a, preferred_element_type=acc)
  b = (c[1] * a.astype(acc) + c[2] * aa).astype(x.dtype)
  return (c[0] * x.astype(acc) + jnp.matmul(b, x, preferred_element_type=acc)).astype(x.dtype)


def _fro(x: jax.Array) -> jax.Array:
  """`|X|_F` per matrix; a bfloat16 / float16 `X` is summed in float32 (as torch's `norm`
  accumulates) and the norm rounded to `X`'s dtype."""
  total = jnp.sum(abs_sq(x).astype(compute_dtype(x.real.dtype)), axis=(-2, -1), keepdims=True)
  return jnp.sqrt(total).astype(x.real.dtype)


def _first_step(x: jax.Array, c: jax.Array, eps: jax.Array, preconditioning: str) -> jax.Array:
  """The first iteration, with the scaling that bounds the spectral norm by 1."""
  if preconditioning == "frobenius":  # torch.optim.Muon / Keller Jordan: X / max(|X|_F, eps)
    x = x / jnp.maximum(_fro(x), eps)
  elif preconditioning == "spectral":
    x = x / jnp.maximum(jnp.linalg.norm(x, ord=2, axis=(-2, -1), keepdims=True), eps)
  a = _gram(x)
  if preconditioning == "aol":  # Boissin et al. 2025: row scaling s_i = (sum_j |A_ij|)^(-1/2)
    s = jax.lax.rsqrt(jnp.maximum(jnp.sum(jnp.abs(a), axis=-1, keepdims=True), eps))
    x, a = x * s, a * s * jnp.swapaxes(s, -1, -2)
  elif preconditioning == "schatten":  # Grishina et al. 2025: X / |X X^H|_F^(1/2)
    s = jax.lax.rsqrt(jnp.maximum(_fro(a), eps))
    x, a = x * s, a * s * s
  return _step(x, a, c)


def newton_schulz(
  x: jax.Array, coeffs: Any, eps: Any = 1e-7, preconditioning: str = "frobenius"
) -> jax.Array:
  """Orthogonalizes each matrix of `x` (shape `(..., m, n)`) by Newton-Schulz.

  `coeffs` has shape `(steps, 3)`: row `k` holds `(a, b, c)` of iteration `k`,
  `X <- a X + (b A + c A^2) X` with `A = X X^H`. The iteration runs on the
  wide orientation (`m <= n`, transposing if needed, which gives the same
  result since `f(X^T) = f(X)^T`), after the scaling `preconditioning`:
  `"frobenius"` `X / max(|X|_F, eps)` (Keller Jordan's Muon, `torch.optim.Muon`),
  `"spectral"` `X / max(|X|_2, eps)`, `"aol"` and `"schatten"` (rescalings
  folded into the first iteration, as Optax). Arithmetic in `x.dtype` (bfloat16 for
  Keller Jordan's and torch's Muon; only the Frobenius norm's sum is float32 there).
  """
  if preconditioning not in PRECONDITIONINGS:
    raise ValueError(
      f"newton_schulz: preconditioning={preconditioning!r} is invalid; "
      f"expected one of {PRECONDITIONINGS}."
    )
  coeffs = jnp.asarray(coeffs)
  if coeffs.ndim != 2 or coeffs.shape[-1] != 3 or coeffs.shape[0] < 1:
    raise ValueError(f"newton_schulz: coeffs has shape {coeffs.shape}; expected (steps, 3).")
  coeffs = coeffs.astype(compute_dtype(x.dtype))
  eps = hyper(eps, x.dtype)
  wide = x.shape[-2] <= x.shape[-1]
  if not wide:
    x = jnp.swapaxes(x, -1, -2)
  x = _first_step(x, coeffs[0], eps, preconditioning)
  for k in range(1, coeffs.shape[0]):
    x = _step(x, _gram(x), coeffs[k])
  return x if wide else jnp.swapaxes(x, -1, -2)
