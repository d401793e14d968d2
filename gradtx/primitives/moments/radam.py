"""RAdam: Adam with a rectified (variance-corrected) adaptive step."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import (
  bias_correction,
  hyper,
  map_leaves,
  safe_increment,
  scalar_dtype,
  zero_count,
)
from gradtx.primitives.moments.adam import (
  ScaleByAdamState,
  adam_direction,
  adam_moments,
  check_betas,
  debiased_first_moment,
  first_moment_corrections,
  zero_moments,
)

__all__ = ["ScaleByRadam", "scale_by_radam"]


def _rectification(b2: Any, count: Any, threshold: Any):
  """`(rectified, r_t)`: whether the variance is tractable at step `t`, and the factor.

  `rho_inf = 2 / (1 - b2) - 1`; `rho_t = rho_inf - 2 t b2^t / (1 - b2^t)`;
  `r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))`.
  Scalars, computed once per step; `r_t` is 1 where not rectified (never NaN).
  """
  dt = scalar_dtype()
  b2 = jnp.asarray(b2, dt)
  t = count.astype(dt)
  b2t = b2**t
  rho_inf = 2.0 / (1.0 - b2) - 1.0
  rho = rho_inf - 2.0 * t * b2t / (1.0 - b2t)
  rectified = rho >= jnp.asarray(threshold, dt)
  ratio = (rho - 4.0) * (rho - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho)
  r = jnp.sqrt(jnp.where(rectified & (ratio > 0), ratio, 1.0))
  return rectified, r


class ScaleByRadam(GradientTransformation):
  """Rectified Adam (Liu et al., 2019, "On the Variance of the Adaptive Learning Rate").

  Adam's moments `m_t`, `v_t` and corrections `m_hat = m_t / (1 - b1^t)`,
  `v_hat = v_t / (1 - b2^t)`; with `rho_inf = 2 / (1 - b2) - 1` and
  `rho_t = rho_inf - 2 t b2^t / (1 - b2^t)`:
  `u_t = r_t m_hat / (sqrt(v_hat + eps_root) + eps)` when `rho_t >= threshold`,
  where `r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))`,
  and `u_t = m_hat` (un-adapted momentum) otherwise. With `nesterov=True`
  `m_hat = b1 m_t / (1 - b1^(t+1)) + (1 - b1) g_t / (1 - b1^t)`.
  Defaults as Optax: `b1=0.9`, `b2=0.999`, `eps=1e-8`, `eps_root=0`,
  `threshold=5` (the paper uses 4, the smallest `rho` for which `r_t` is
  defined; Optax's 5 skips the first few, noisiest rectified steps).
  State: `ScaleByAdamState`, as Optax. With `raw_eps=True` (PyTorch's form) eps
  is added to the root of the raw moment: `r_t m_hat sqrt(1 - b2^t) / (sqrt(v_t) + eps)`.
  """

  b1: Any = 0.9
  b2: Any = 0.999
  eps: Any = 1e-8
  eps_root: Any = 0.0
  threshold: Any = 5.0
  nesterov: bool = static(False)
  state_dtype: Any = static(None)
  raw_eps: bool = static(False)

  def __post_init__(self):
    check_betas("scale_by_radam", self.b1, self.b2, self.eps, self.eps_root)

  def init(self, params):
    return ScaleByAdamState(zero_count(), *zero_moments(params, state_dtype=self.state_dtype))

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    count = safe_increment(state.count)
    c1 = first_moment_corrections(self.b1, count, self.nesterov)
    c2 = bias_correction(self.b2, count)
    rectified, r = _rectification(self.b2, count, self.threshold)

    def leaf(g, m, v):
      gc, m_new, v_new = adam_moments(g, m, v, self.b1, self.b2)
      cdt = gc.dtype
      m_hat = debiased_first_moment(m_new, gc, self.b1, c1)
      eps = hyper(self.eps, cdt) / (jnp.sqrt(hyper(c2, cdt)) if self.raw_eps else 1.0)
      adaptive = hyper(r, cdt) * adam_direction(
        m_hat, v_new / hyper(c2, cdt), eps, hyper(self.eps_root, cdt)
      )
      u = jnp.where(rectified, adaptive, m_hat)
      return u.astype(g.dtype), m_new.astype(m.dtype), v_new.astype(v.dtype)

    updates, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, n_out=3)
    return updates, ScaleByAdamState(count, mu, nu)


def scale_by_radam(
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-8,
  eps_root: Any = 0.0,
  threshold: Any = 5.0,
  *,
  nesterov: bool = False,
  state_dtype: Any = None,
  raw_eps: bool = False,
) -> ScaleByRadam:
  """RAdam's scaling (see `ScaleByRadam`); `raw_eps=True` is PyTorch's eps placement."""
  return ScaleByRadam(b1, b2, eps, eps_root, threshold, nesterov, state_dtype, raw_eps)
