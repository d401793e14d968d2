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
  """Adam's scaling; the update rule and defaults are on `scale_by_adam`.

  The bias corrections are scalars computed once per step.
  """

  b1: Any = 0.9
  b2: Any = 0.999
  eps: Any = 1e-8
  eps_root: Any = 0.0
  mu_dtype: Any = static(default=None)
  nesterov: bool = static(default=False)
  state_dtype: Any = static(default=None)

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
  """AMSGrad's scaling; the update rule and defaults are on `scale_by_amsgrad`."""

  b1: Any = 0.9
  b2: Any = 0.999
  eps: Any = 1e-8
  eps_root: Any = 0.0
  mu_dtype: Any = static(default=None)
  state_dtype: Any = static(default=None)
  raw_max: bool = static(default=False)

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
  """AdaMax's scaling; the update rule and defaults are on `scale_by_adamax`."""

  b1: Any = 0.9
  b2: Any = 0.999
  eps: Any = 1e-8
  state_dtype: Any = static(default=None)

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
  r"""Adam's scaling with bias correction (Kingma & Ba, 2014).

  With $g_t$ the incoming update and $t = 1, 2, \dots$ the step count:

  $$
  \begin{aligned}
  m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, &
  v_t &= \beta_2 v_{t-1} + (1 - \beta_2)\, |g_t|^2, \\
  \hat m_t &= \frac{m_t}{1 - \beta_1^t}, &
  \hat v_t &= \frac{v_t}{1 - \beta_2^t}, \\
  u_t &= \frac{\hat m_t}{\sqrt{\hat v_t + \epsilon_{\mathrm{root}}} + \epsilon},
  \end{aligned}
  $$

  with $m_0 = v_0 = 0$ and $u_t = 0$ where the denominator is 0. With `nesterov=True`
  (NAdam, Dozat 2016) $\hat m_t = \frac{\beta_1 m_t}{1 - \beta_1^{t+1}}
  + \frac{(1 - \beta_1)\, g_t}{1 - \beta_1^t}$.

  Defaults: `b1=0.9`, `b2=0.999`, `eps=1e-8` (Kingma & Ba, 2014, Algorithm 1),
  `eps_root=0` (Optax's `scale_by_adam`).

  Args:
    b1: decay $\beta_1$ of the first moment.
    b2: decay $\beta_2$ of the second moment.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added under the root.
    mu_dtype: dtype of $m$ (Optax's name).
    nesterov: use Nesterov's look-ahead first moment (NAdam).
    state_dtype: dtype of both moments (default: the params', at least float32).

  Returns:
    A `ScaleByAdam` transformation with state `ScaleByAdamState(count, mu, nu)`.
  """
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
  r"""AMSGrad's scaling (Reddi et al., 2018): Adam with a non-increasing step.

  Adam's $m_t$, $v_t$, $\hat m_t = m_t / (1 - \beta_1^t)$ and
  $\hat v_t = v_t / (1 - \beta_2^t)$ (see `scale_by_adam`), then

  $$
  \hat v^{\max}_t = \max(\hat v^{\max}_{t-1}, \hat v_t), \qquad
  u_t = \frac{\hat m_t}{\sqrt{\hat v^{\max}_t + \epsilon_{\mathrm{root}}} + \epsilon}.
  $$

  With `raw_max=True` (PyTorch's `amsgrad=True`) the maximum is of the raw moment and is
  corrected after: $v^{\max}_t = \max(v^{\max}_{t-1}, v_t)$,
  $u_t = \hat m_t / \big(\sqrt{v^{\max}_t / (1 - \beta_2^t) + \epsilon_{\mathrm{root}}}
  + \epsilon\big)$.

  Defaults: `b1=0.9`, `b2=0.999`, `eps=1e-8`, `eps_root=0` (Optax's `scale_by_amsgrad`).

  Args:
    b1: decay $\beta_1$ of the first moment.
    b2: decay $\beta_2$ of the second moment.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added under the root.
    mu_dtype: dtype of $m$ (Optax's name).
    state_dtype: dtype of the moments.
    raw_max: take the maximum of the uncorrected $v_t$ (PyTorch's variant).

  Returns:
    A `ScaleByAmsgrad` transformation with state `ScaleByAmsgradState`.
  """
  return ScaleByAmsgrad(b1, b2, eps, eps_root, mu_dtype, state_dtype, raw_max)


def scale_by_adamax(
  b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8, *, state_dtype: Any = None
) -> ScaleByAdamax:
  r"""AdaMax's scaling (Kingma & Ba, 2014, section 7): Adam with the infinity norm.

  $$
  m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
  n_t = \max(\beta_2 n_{t-1}, |g_t| + \epsilon), \qquad
  u_t = \frac{m_t}{(1 - \beta_1^t)\, n_t},
  $$

  with $m_0 = n_0 = 0$ ($u_t = 0$ where $n_t = 0$).

  Defaults: `b1=0.9`, `b2=0.999` (Kingma & Ba, 2014, Algorithm 2), `eps=1e-8` (Optax's
  `scale_by_adamax`; the paper has no $\epsilon$).

  Args:
    b1: decay $\beta_1$ of the first moment.
    b2: decay $\beta_2$ of the infinity norm.
    eps: $\epsilon$, added to $|g_t|$.
    state_dtype: dtype of the state.

  Returns:
    A `ScaleByAdamax` transformation with state `ScaleByAdamState` (`nu` holds $n$).
  """
  return ScaleByAdamax(b1, b2, eps, state_dtype)
