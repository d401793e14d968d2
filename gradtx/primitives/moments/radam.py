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
  """RAdam's scaling; the update rule and defaults are on `scale_by_radam`."""

  b1: Any = 0.9
  b2: Any = 0.999
  eps: Any = 1e-8
  eps_root: Any = 0.0
  threshold: Any = 5.0
  nesterov: bool = static(default=False)
  state_dtype: Any = static(default=None)
  raw_eps: bool = static(default=False)

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
  r"""Rectified Adam's scaling (Liu et al., 2019, "On the Variance of the Adaptive Learning
  Rate").

  Adam's $m_t$, $v_t$, $\hat m_t = m_t / (1 - \beta_1^t)$, $\hat v_t = v_t / (1 - \beta_2^t)$
  (see `scale_by_adam`), and

  $$
  \begin{aligned}
  \rho_\infty &= \frac{2}{1 - \beta_2} - 1, \qquad
  \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1 - \beta_2^t}, \qquad
  r_t = \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\, \rho_\infty}
    {(\rho_\infty - 4)(\rho_\infty - 2)\, \rho_t}}, \\
  u_t &= \begin{cases}
    r_t\, \hat m_t / \big(\sqrt{\hat v_t + \epsilon_{\mathrm{root}}} + \epsilon\big)
      & \text{if } \rho_t \ge \text{threshold}, \\
    \hat m_t & \text{otherwise.}
  \end{cases}
  \end{aligned}
  $$

  With `nesterov=True` $\hat m_t = \frac{\beta_1 m_t}{1 - \beta_1^{t+1}}
  + \frac{(1 - \beta_1) g_t}{1 - \beta_1^t}$. With `raw_eps=True` (PyTorch's placement)
  $\epsilon$ is added to the root of the raw moment:
  $u_t = r_t\, \hat m_t \sqrt{1 - \beta_2^t} / (\sqrt{v_t} + \epsilon)$.

  Defaults: `b1=0.9`, `b2=0.999`, `eps=1e-8`, `eps_root=0`, `threshold=5` (Optax's
  `scale_by_radam`; the paper uses 4, the smallest $\rho_t$ for which $r_t$ is defined).

  Args:
    b1: $\beta_1$, the decay of the first moment.
    b2: $\beta_2$, the decay of the second moment.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added under the root.
    threshold: the smallest $\rho_t$ at which the adaptive step is used.
    nesterov: NAdam's look-ahead first moment.
    state_dtype: dtype of the moments.
    raw_eps: PyTorch's placement of $\epsilon$.

  Returns:
    A `ScaleByRadam` transformation with state `ScaleByAdamState`, as Optax.
  """
  return ScaleByRadam(b1, b2, eps, eps_root, threshold, nesterov, state_dtype, raw_eps)
