"""LaProp (Ziyin, Wang & Ueda 2020, "LaProp: Separating Momentum and Adaptivity in Adam";
reference Z-T-WANG/LaProp-Optimizer `laprop.py`)."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import (
  abs_sq,
  bias_correction,
  complement,
  compute_dtype,
  hyper,
  map_leaves,
  real_dtype,
  safe_div,
  safe_increment,
  zero_count,
)
from gradtx.numerics.storage import check_state_dtype, load, store
from gradtx.primitives.moments.adam import ScaleByAdamState, check_betas, zero_moments

__all__ = ["ScaleByLaprop", "scale_by_laprop"]


class ScaleByLaprop(GradientTransformation):
  """LaProp's scaling; the update rule and defaults are on `scale_by_laprop`."""

  b1: Any = 0.8
  b2: Any = 0.99
  eps: Any = 1e-15
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    check_betas("scale_by_laprop", self.b1, self.b2, self.eps)
    check_state_dtype("scale_by_laprop", self.state_dtype)

  def init(self, params):
    return ScaleByAdamState(zero_count(), *zero_moments(params, state_dtype=self.state_dtype))

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    count = safe_increment(state.count)
    c1, c2 = bias_correction(self.b1, count), bias_correction(self.b2, count)

    def leaf(g, m, v):
      cdt = compute_dtype(g.dtype)
      gc = g.astype(cdt)
      v_new = hyper(self.b2, cdt) * load(v, real_dtype(cdt)) + complement(self.b2, cdt) * abs_sq(gc)
      n = safe_div(gc, jnp.sqrt(v_new / hyper(c2, cdt)) + hyper(self.eps, cdt))
      m_new = hyper(self.b1, cdt) * load(m, cdt) + complement(self.b1, cdt) * n
      u = m_new / hyper(c1, cdt)
      return u.astype(g.dtype), store(m_new, m, g, count), store(v_new, v, g, count)

    updates, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, n_out=3)
    return updates, ScaleByAdamState(count, mu, nu)


def scale_by_laprop(
  b1: Any = 0.8, b2: Any = 0.99, eps: Any = 1e-15, *, state_dtype: Any = None
) -> ScaleByLaprop:
  r"""LaProp's scaling (Ziyin, Wang & Ueda, 2020): normalize first, momentum after.

  $$
  v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2, \qquad
  n_t = \frac{g_t}{\sqrt{v_t / (1 - \beta_2^t)} + \epsilon}, \qquad
  m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, n_t, \qquad
  u_t = \frac{m_t}{1 - \beta_1^t}.
  $$

  The reference weights its first-moment bias correction by the learning rates used so
  far; for a constant learning rate that is $1 - \beta_1^t$, as here (the learning rate is
  a later stage).

  Defaults: `b1=0.8`, `b2=0.99`, `eps=1e-15` (reference code Z-T-WANG/LaProp-Optimizer,
  `LaProp.__init__`).

  Args:
    b1: $\beta_1$, the decay of the momentum.
    b2: $\beta_2$, the decay of the second moment.
    eps: $\epsilon$, added to the root.
    state_dtype: dtype of the moments.

  Returns:
    A `ScaleByLaprop` transformation with state `ScaleByAdamState` (`mu` = $m$,
    `nu` = $v$).
  """
  return ScaleByLaprop(b1, b2, eps, state_dtype)
