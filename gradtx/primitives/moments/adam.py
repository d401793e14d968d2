"""Adam and its close relatives: AMSGrad, AdaMax (NAdam is `nesterov=True`)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import (
  abs_sq,
  bias_correction,
  complement,
  compute_dtype,
  hyper,
  map_leaves,
  pick_dtype,
  real_dtype,
  safe_div,
  safe_increment,
  zero_count,
  zeros_like,
)
from gradtx.numerics.storage import check_state_dtype, load, store

__all__ = [
  "ScaleByAdam",
  "ScaleByAdamState",
  "scale_by_adam",
  "ScaleByAmsgrad",
  "ScaleByAmsgradState",
  "scale_by_amsgrad",
  "ScaleByAdamax",
  "scale_by_adamax",
]


class ScaleByAdamState(NamedTuple):
  """`count`: steps done; `mu`, `nu`: first and second moments, shaped like the params."""

  count: jax.Array
  mu: Any
  nu: Any


def check_betas(owner: str, b1: Any, b2: Any, eps: Any, eps_root: Any = 0.0) -> None:
  """`b1`, `b2` in [0, 1); `eps`, `eps_root` >= 0."""
  _checks.decay_rate(owner, "b1", b1)
  _checks.decay_rate(owner, "b2", b2)
  _checks.non_negative(owner, "eps", eps)
  _checks.non_negative(owner, "eps_root", eps_root)


def zero_moments(params: Any, mu_dtype: Any = None, state_dtype: Any = None) -> tuple:
  """`(mu, nu)` of zeros shaped like the params: `mu` in `mu_dtype` (else `state_dtype`),
  `nu` real-valued in `state_dtype`, both by the state-dtype policy."""
  return (
    zeros_like(params, pick_dtype(mu_dtype, state_dtype)),
    zeros_like(params, state_dtype, real=True),
  )


def adam_moments(g: jax.Array, m: jax.Array, v: jax.Array, b1: Any, b2: Any):
  """`m_t = b1 m + (1 - b1) g`, `v_t = b2 v + (1 - b2) |g|^2` in the compute dtype."""
  cdt = compute_dtype(g.dtype)
  gc = g.astype(cdt)
  v_new = hyper(b2, cdt) * load(v, real_dtype(cdt)) + complement(b2, cdt) * abs_sq(gc)
  return gc, hyper(b1, cdt) * load(m, cdt) + complement(b1, cdt) * gc, v_new


def first_moment_corrections(b1: Any, count: jax.Array, nesterov: bool) -> tuple:
  """`(1 - b1^t, 1 - b1^(t+1))`, the second only for Nesterov; scalars, once per step."""
  c1 = bias_correction(b1, count)
  return c1, bias_correction(b1, safe_increment(count)) if nesterov else None


def debiased_first_moment(
  m_new: jax.Array, gc: jax.Array, b1: Any, corrections: tuple
) -> jax.Array:
  """`m_t / (1 - b1^t)`, or with Nesterov (NAdam)
  `b1 m_t / (1 - b1^(t+1)) + (1 - b1) g_t / (1 - b1^t)`."""
  cdt = gc.dtype
  c1, c1_next = corrections
  if c1_next is None:
    return m_new / hyper(c1, cdt)
  return hyper(b1, cdt) * m_new / hyper(c1_next, cdt) + complement(b1, cdt) * gc / hyper(c1, cdt)


def adam_direction(m_hat: jax.Array, v_hat: jax.Array, eps: Any, eps_root: Any) -> jax.Array:
  """`m_hat / (sqrt(v_hat + eps_root) + eps)`, and 0 where `v_hat` is 0 (all-zero gradients)."""
  return safe_div(m_hat, jnp.sqrt(v_hat + eps_root) + eps)


class ScaleByAdam(GradientTransformation):
  """Adam (Kingma & Ba, 2014) with bias correction.

  `m_t = b1 m_{t-1} + (1 - b1) g_t`; `v_t = b2 v_{t-1} + (1 - b2) |g_t|^2`;
  `m_hat = m_t / (1 - b1^t)`; `v_hat = v_t / (1 - b2^t)`;
  `u_t = m_hat / (sqrt(v_hat + eps_root) + eps)`.
  With `nesterov=True` (NAdam, Dozat 2016)
  `m_hat = b1 m_t / (1 - b1^(t+1)) + (1 - b1) g_t / (1 - b1^t)`.
  Defaults (Kingma & Ba; Optax): `b1=0.9`, `b2=0.999`, `eps=1e-8`,
  `eps_root=0`. `mu_dtype` stores `m` (Optax's name), `state_dtype` both moments.
  The bias corrections are scalars computed once per step.
  """

  b1: Any = 0.9
  b2: Any = 0.999
  eps: Any = 1e-8
  eps_root: Any = 0.0
  mu_dtype: Any = static(None)
  nesterov: bool = static(False)
  state_dtype: Any = static(None)

  def __post_init__(self):
    check_betas("scale_by_adam", self.b1, self.b2, self.eps, self.eps_root)
    check_state_dtype("scale_by_adam", self.state_dtype)
    check_state_dtype("scale_by_adam", self.mu_dtype, "mu_dtype")

  def init(self, params):
    return ScaleByAdamState(zero_count(), *zero_moments(params, self.mu_dtype, self.state_dtype))

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    count = safe_increment(state.count)
    c1 = first_moment_corrections(self.b1, count, self.nesterov)
    c2 = bias_correction(self.b2, count)

    def leaf(g, m, v):
      gc, m_new, v_new = adam_moments(g, m, v, self.b1, self.b2)
      cdt = gc.dtype
      m_hat = debiased_first_moment(m_new, gc, self.b1, c1)
      u = adam_direction(
        m_hat, v_new / hyper(c2, cdt), hyper(self.eps, cdt), hyper(self.eps_root, cdt)
      )
      return u.astype(g.dtype), store(m_new, m, g, count), store(v_new, v, g, count)

    updates, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, n_out=3)
    return updates, ScaleByAdamState(count, mu, nu)


class ScaleByAmsgradState(NamedTuple):
  """Adam's state plus `nu_max`, the running maximum of `v_hat`."""

  count: jax.Array
  mu: Any
  nu: Any
  nu_max: Any


class ScaleByAmsgrad(GradientTransformation):
  """AMSGrad (Reddi et al., 2018): Adam with a non-increasing step.

  Adam's moments and corrections; `v_max_t = max(v_max_{t-1}, v_hat_t)`;
  `u_t = m_hat / (sqrt(v_max_t + eps_root) + eps)`. Defaults as Optax.
  With `raw_max=True` (PyTorch's `amsgrad=True`) the maximum is taken of the raw
  moment, `v_max_t = max(v_max_{t-1}, v_t)`, and corrected after:
  `u_t = m_hat / (sqrt(v_max_t / (1 - b2^t) + eps_root) + eps)`.
  """

  b1: Any = 0.9
  b2: Any = 0.999
  eps: Any = 1e-8
  eps_root: Any = 0.0
  mu_dtype: Any = static(None)
  state_dtype: Any = static(None)
  raw_max: bool = static(False)

  def __post_init__(self):
    check_betas("scale_by_amsgrad", self.b1, self.b2, self.eps, self.eps_root)
    check_state_dtype("scale_by_amsgrad", self.state_dtype)
    check_state_dtype("scale_by_amsgrad", self.mu_dtype, "mu_dtype")

  def init(self, params):
    mu, nu = zero_moments(params, self.mu_dtype, self.state_dtype)
    return ScaleByAmsgradState(zero_count(), mu, nu, nu)

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    count = safe_increment(state.count)
    c1, c2 = bias_correction(self.b1, count), bias_correction(self.b2, count)

    def leaf(g, m, v, v_max):
      gc, m_new, v_new = adam_moments(g, m, v, self.b1, self.b2)
      cdt = gc.dtype
      if self.raw_max:
        v_max_new = jnp.maximum(load(v_max, v_new.dtype), v_new)
        v_hat = v_max_new / hyper(c2, cdt)
      else:
        v_max_new = jnp.maximum(load(v_max, v_new.dtype), v_new / hyper(c2, cdt))
        v_hat = v_max_new
      u = adam_direction(
        m_new / hyper(c1, cdt), v_hat, hyper(self.eps, cdt), hyper(self.eps_root, cdt)
      )
      return (
        u.astype(g.dtype),
        store(m_new, m, g, count),
        store(v_new, v, g, count),
        store(v_max_new, v_max, g, count),
      )

    updates, mu, nu, nu_max = map_leaves(leaf, updates, state.mu, state.nu, state.nu_max, n_out=4)
    return updates, ScaleByAmsgradState(count, mu, nu, nu_max)


class ScaleByAdamax(GradientTransformation):
  """AdaMax (Kingma & Ba, 2014, section 7): Adam with the infinity norm.

  `m_t = b1 m_{t-1} + (1 - b1) g_t`; `u_t = max(b2 u_{t-1}, |g_t| + eps)`;
  `update = m_t / (1 - b1^t) / u_t`. Defaults as Optax: `b1=0.9`,
  `b2=0.999`, `eps=1e-8`. State: `ScaleByAdamState` with `nu` = `u`.
  """

  b1: Any = 0.9
  b2: Any = 0.999
  eps: Any = 1e-8
  state_dtype: Any = static(None)

  def __post_init__(self):
    check_betas("scale_by_adamax", self.b1, self.b2, self.eps)
    check_state_dtype("scale_by_adamax", self.state_dtype)

  def init(self, params):
    return ScaleByAdamState(zero_count(), *zero_moments(params, state_dtype=self.state_dtype))

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    count = safe_increment(state.count)
    c1 = bias_correction(self.b1, count)

    def leaf(g, m, v):
      cdt = compute_dtype(g.dtype)
      b1, b2 = hyper(self.b1, cdt), hyper(self.b2, cdt)
      gc = g.astype(cdt)
      m_new = b1 * load(m, cdt) + complement(self.b1, cdt) * gc
      v_new = jnp.maximum(b2 * load(v, real_dtype(cdt)), jnp.abs(gc) + hyper(self.eps, cdt))
      u = safe_div(m_new / hyper(c1, cdt), v_new)
      return u.astype(g.dtype), store(m_new, m, g, count), store(v_new, v, g, count)

    updates, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, n_out=3)
    return updates, ScaleByAdamState(count, mu, nu)


def scale_by_adam(
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-8,
  eps_root: Any = 0.0,
  mu_dtype: Any = None,
  *,
  nesterov: bool = False,
  state_dtype: Any = None,
) -> ScaleByAdam:
  """Adam's scaling with bias correction (see `ScaleByAdam`)."""
  return ScaleByAdam(b1, b2, eps, eps_root, mu_dtype, nesterov, state_dtype)


def scale_by_amsgrad(
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-8,
  eps_root: Any = 0.0,
  mu_dtype: Any = None,
  *,
  state_dtype: Any = None,
  raw_max: bool = False,
) -> ScaleByAmsgrad:
  """AMSGrad's scaling (see `ScaleByAmsgrad`); `raw_max=True` is PyTorch's variant."""
  return ScaleByAmsgrad(b1, b2, eps, eps_root, mu_dtype, state_dtype, raw_max)


def scale_by_adamax(
  b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8, *, state_dtype: Any = None
) -> ScaleByAdamax:
  """AdaMax's scaling (see `ScaleByAdamax`)."""
  return ScaleByAdamax(b1, b2, eps, state_dtype)
