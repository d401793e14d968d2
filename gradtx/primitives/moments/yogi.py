"""Yogi: Adam with an additive, sign-controlled second-moment update."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import (
  abs_sq,
  bias_correction,
  complement,
  compute_dtype,
  full_like,
  hyper,
  map_leaves,
  real_dtype,
  safe_increment,
  zero_count,
)
from gradtx.primitives.moments.adam import ScaleByAdamState, adam_direction, check_betas

__all__ = ["ScaleByYogi", "scale_by_yogi"]


class ScaleByYogi(GradientTransformation):
  """Yogi's scaling; the update rule and defaults are on `scale_by_yogi`."""

  b1: Any = 0.9
  b2: Any = 0.999
  eps: Any = 1e-3
  eps_root: Any = 0.0
  initial_accumulator_value: Any = 1e-6
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    check_betas("scale_by_yogi", self.b1, self.b2, self.eps, self.eps_root)
    _checks.positive("scale_by_yogi", "initial_accumulator_value", self.initial_accumulator_value)

  def init(self, params):
    value = self.initial_accumulator_value
    return ScaleByAdamState(
      zero_count(),
      full_like(params, value, self.state_dtype),
      full_like(params, value, self.state_dtype, real=True),
    )

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    count = safe_increment(state.count)
    c1, c2 = bias_correction(self.b1, count), bias_correction(self.b2, count)

    def leaf(g, m, v):
      cdt = compute_dtype(g.dtype)
      gc = g.astype(cdt)
      m_new = hyper(self.b1, cdt) * m.astype(cdt) + complement(self.b1, cdt) * gc
      g2 = abs_sq(gc)
      v_old = v.astype(real_dtype(cdt))
      v_new = v_old - complement(self.b2, cdt) * jnp.sign(v_old - g2) * g2
      u = adam_direction(
        m_new / hyper(c1, cdt),
        v_new / hyper(c2, cdt),
        hyper(self.eps, cdt),
        hyper(self.eps_root, cdt),
      )
      return u.astype(g.dtype), m_new.astype(m.dtype), v_new.astype(v.dtype)

    updates, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, n_out=3)
    return updates, ScaleByAdamState(count, mu, nu)


def scale_by_yogi(
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-3,
  eps_root: Any = 0.0,
  initial_accumulator_value: Any = 1e-6,
  *,
  state_dtype: Any = None,
) -> ScaleByYogi:
  r"""Yogi's scaling (Zaheer et al., 2018, "Adaptive Methods for Nonconvex Optimization",
  Algorithm 2).

  $$
  \begin{aligned}
  m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
  v_t = v_{t-1} - (1 - \beta_2)\, \operatorname{sign}(v_{t-1} - |g_t|^2)\, |g_t|^2, \\
  u_t &= \frac{m_t / (1 - \beta_1^t)}{\sqrt{v_t / (1 - \beta_2^t) + \epsilon_{\mathrm{root}}}
    + \epsilon},
  \end{aligned}
  $$

  with Adam's bias corrections (Optax's form) and both moments starting at
  $m_0 = v_0 =$ `initial_accumulator_value`.

  Defaults: `b1=0.9`, `b2=0.999`, `eps=1e-3`, `initial_accumulator_value=1e-6`
  (Zaheer et al., 2018; Optax's `scale_by_yogi`), `eps_root=0` (Optax).

  Args:
    b1: $\beta_1$, the decay of the first moment.
    b2: $\beta_2$, the rate of the second-moment update.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added under the root.
    initial_accumulator_value: $m_0 = v_0$.
    state_dtype: dtype of the moments.

  Returns:
    A `ScaleByYogi` transformation with state `ScaleByAdamState`.
  """
  return ScaleByYogi(b1, b2, eps, eps_root, initial_accumulator_value, state_dtype)
