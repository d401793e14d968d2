"""Linear algebra used by optimizers (Optax's `power_iteration`, `matrix_inverse_pth_root`,
`nnls`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from gradtx.tree_utils.arithmetic import tree_scale, tree_sub
from gradtx.tree_utils.reductions import tree_norm, tree_vdot

__all__ = ["power_iteration", "matrix_inverse_pth_root", "nnls"]


def _unit(tree: Any) -> Any:
  return tree_scale(1.0 / tree_norm(tree), tree)


def power_iteration(
  matrix: jax.typing.ArrayLike | Callable[[Any], Any],
  *,
  v0: Any = None,
  num_iters: jax.typing.ArrayLike = 100,
  error_tolerance: jax.typing.ArrayLike = 1e-6,
  precision: lax.Precision = lax.Precision.HIGHEST,
  key: jax.Array | None = None,
) -> tuple[jax.Array, Any]:
  """Dominant eigenvalue and unit eigenvector `(lambda, v)` of a diagonalizable operator.

  `matrix` is a square array or a function `v -> A v` on trees (then `v0`, a
  tree of its input's structure, is required). Iterates `v <- A v / ||A v||`
  and `lambda = <v, A v>` until `||A v - lambda v|| / |lambda| < error_tolerance`
  or `num_iters` steps. Without `v0` (array case) it starts from uniform
  [-1, 1] noise drawn with `key` (default `PRNGKey(0)`), as Optax does.
  """
  if callable(matrix):
    matvec = matrix
    if v0 is None:
      raise ValueError("power_iteration: v0 is required when matrix is a function.")
  else:
    matrix = jnp.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
      raise ValueError(f"power_iteration: matrix must be square; got shape {matrix.shape}.")
    matvec = lambda v: jnp.matmul(matrix, v, precision=precision)
    if v0 is None:
      key = jax.random.PRNGKey(0) if key is None else key
      v0 = jax.random.uniform(key, matrix.shape[-1:], matrix.dtype, -1.0, 1.0)

  def not_done(carry):
    v, av, lam, step = carry
    residual = tree_norm(tree_sub(av, tree_scale(lam, v)))
    return ~(jnp.abs(residual / lam) < error_tolerance) & (step < num_iters)

  def iterate(carry):
    _, av, _, step = carry
    v = _unit(av)
    av = matvec(v)
    return v, av, jnp.asarray(tree_vdot(v, av)), step + 1

  v = _unit(v0)
  av = matvec(v)
  lam = jnp.zeros_like(tree_vdot(v, av))  # 0: at least one step is taken
  _, av, lam, _ = lax.while_loop(not_done, iterate, (v, av, lam, jnp.asarray(0)))
  return lam, _unit(av)


def matrix_inverse_pth_root(
  matrix: jax.typing.ArrayLike,
  p: int,
  num_iters: jax.typing.ArrayLike = 100,
  ridge_epsilon: jax.typing.ArrayLike = 1e-6,
  error_tolerance: jax.typing.ArrayLike = 1e-6,
  precision: lax.Precision = lax.Precision.HIGHEST,
) -> tuple[jax.Array, jax.Array]:
  """`(A + eps * lambda_max * I)^(-1/p)` of a symmetric PSD matrix, and the final error
  `max |M - I|`, by the coupled Newton iteration (Higham, Functions of Matrices, eq. 7.18):

      M_0 = z A,  H_0 = z^(1/p) I,  z = (1 + p) / (2 ||A||_F)
      T = (1 + 1/p) I - M / p,  M <- T^p M,  H <- H T

  stopping when `max |M - I| <= error_tolerance`, after `num_iters` steps, or
  when the error grows by more than 1.2x (then the previous `H` is returned).
  `p` is a positive integer. Arithmetic in the matrix's dtype (at least
  float32); Optax computes in float32.
  """
  matrix = jnp.asarray(matrix)
  if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
    raise ValueError(f"matrix_inverse_pth_root: matrix must be square; got shape {matrix.shape}.")
  dtype = jnp.promote_types(matrix.dtype, jnp.float32)
  a = matrix.astype(dtype)
  n = a.shape[0]
  alpha = jnp.asarray(-1.0 / p, dtype)
  eye = jnp.eye(n, dtype=dtype)
  max_ev, _ = power_iteration(a, num_iters=100, error_tolerance=1e-6, precision=precision)
  ridge = ridge_epsilon * jnp.maximum(max_ev, 1e-16)
  if n == 1:
    return ((a + ridge) ** alpha).astype(matrix.dtype), jnp.zeros([], dtype)

  mm = lambda x, y: jnp.matmul(x, y, precision=precision)

  def power(t):
    return _matrix_power(t, p, mm)

  def not_done(carry):
    step, _, _, _, error, improving = carry
    return (step < num_iters) & (error > error_tolerance) & improving

  def iterate(carry):
    step, m, h, _, error, _ = carry
    t = (1 - alpha) * eye + alpha * m
    m_new = mm(power(t), m)
    error_new = jnp.max(jnp.abs(m_new - eye))
    return step + 1, m_new, mm(h, t), h, error_new, error_new < 1.2 * error

  damped = a + ridge * eye
  z = (1 + p) / (2 * jnp.linalg.norm(damped))
  m0 = damped * z
  h0 = eye * jnp.power(z, 1.0 / p)
  error0 = jnp.max(jnp.abs(m0 - eye))
  _, m, h, h_prev, _, improving = lax.while_loop(
    not_done, iterate, (0, m0, h0, h0, error0, jnp.asarray(True))
  )
  result = jnp.where(improving, h, h_prev)
  return result.astype(matrix.dtype), jnp.max(jnp.abs(m - eye))


def _matrix_power(t: jax.Array, p: Any, mm: Callable) -> jax.Array:
  """`t^p` for a positive integer `p`: repeated squaring for a Python int; for a traced
  `p` (Optax's case), one of 1, 2, 4, 8 chosen by `lax.switch`."""
  if isinstance(p, int):
    result, base = None, t
    while p:
      if p & 1:
        result = base if result is None else mm(result, base)
      p >>= 1
      if p:
        base = mm(base, base)
    assert result is not None, "p >= 1"
    return result
  powers = [lambda x: x]
  for _ in range(3):
    powers.append(lambda x, f=powers[-1]: (lambda y: mm(y, y))(f(x)))
  return lax.switch(jnp.asarray(jnp.round(jnp.log2(p)), jnp.int32), powers, t)


def _spectral_bound(q: jax.Array) -> jax.Array:
  """An upper bound on the spectral radius: `min(||Q||_F, ||Q||_1)`."""
  frobenius = jnp.linalg.norm(q, "fro")
  if q.size == 0:
    return frobenius
  return jnp.minimum(frobenius, jnp.linalg.norm(q, 1))


def nnls(
  A: jax.Array,
  b: jax.Array,
  iters: int,
  unroll: int | bool = 1,  # pylint: disable=invalid-name
  L: jax.typing.ArrayLike | None = None,
) -> jax.Array:  # pylint: disable=invalid-name
  """`argmin_{x >= 0} ||A x - b||_2` by Polyak's (2015) fast projected gradient:

      x_{k+1} = max(0, y_k - (Q y_k - q) / L),  Q = A^T A,  q = A^T b
      c_{k+1} = (1 + sqrt(1 + 4 c_k^2)) / 2,  y_{k+1} = x_{k+1} + (c_k - 1)/c_{k+1} (x_{k+1} - x_k)

  from `x_0 = y_0 = 0`, `c_0 = 0`, for `iters` steps (`lax.scan` with
  `unroll`). `L` bounds the spectral radius of `Q` (default `min(||Q||_F, ||Q||_1)`).
  `b` is `(M,)` or `(M, K)`; the result is `(N,)` or `(N, K)`.
  """
  A, b = jnp.asarray(A), jnp.asarray(b)  # pylint: disable=invalid-name
  if A.ndim != 2:
    raise ValueError(f"nnls: A must be a matrix; got shape {A.shape}.")
  if b.ndim not in (1, 2) or b.shape[0] != A.shape[0]:
    raise ValueError(
      f"nnls: b must have shape ({A.shape[0]},) or ({A.shape[0]}, K); got {b.shape}."
    )
  q_mat = A.mT @ A
  q_vec = A.mT @ b
  lip = _spectral_bound(q_mat) if L is None else jnp.asarray(L)
  lip = jnp.where(lip == 0, 1, lip)

  def step(carry, _):
    x, y, c = carry
    c_next = (1 + jnp.sqrt(1 + 4 * c**2)) / 2
    x_next = jnp.maximum(y - (q_mat @ y - q_vec) / lip, 0)
    y_next = x_next + (c - 1) / c_next * (x_next - x)
    return (x_next, y_next, c_next), None

  x0 = jnp.zeros(A.shape[-1:] + b.shape[1:], jnp.result_type(A, b))
  (x, _, _), _ = lax.scan(step, (x0, x0, 0.0), length=iters, unroll=unroll)
  return x
