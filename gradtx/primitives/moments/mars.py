"""MARS (Yuan et al. 2024, "MARS: Unleashing the Power of Variance Reduction for Training
Large Models"), the MARS-AdamW variant of the reference code AGI-Arena/MARS (`mars.py`)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import (
  bias_correction,
  compute_dtype,
  hyper,
  map_leaves,
  safe_increment,
  zero_count,
  zeros_like,
)
from gradtx.numerics.storage import check_state_dtype, load, store
from gradtx.primitives.moments.adam import adam_direction, adam_moments, check_betas, zero_moments

__all__ = ["ScaleByMars", "ScaleByMarsState", "scale_by_mars"]


class ScaleByMarsState(NamedTuple):
  """`count`: steps done; `mu`, `nu`: AdamW's moments (of `c_t`, or of `g_t` on 1-D leaves
  without `optimize_1d`); `last_grad`: the previous gradient `g_{t-1}` (0 before the first)."""

  count: jax.Array
  mu: Any
  nu: Any
  last_grad: Any


def _corrected(g: jax.Array, last: jax.Array, gamma: jax.Array, b1: jax.Array) -> jax.Array:
  """`c = g + gamma b1 / (1 - b1) (g - g_prev)`, divided by `||c||_F` when that exceeds 1."""
  c = g + gamma * (b1 / (1 - b1)) * (g - last)
  norm = jnp.sqrt(jnp.sum(c * c))
  return jnp.where(norm > 1, c / jnp.where(norm > 1, norm, 1), c)


class ScaleByMars(GradientTransformation):
  """MARS-AdamW's direction; the update rule and defaults are on `scale_by_mars`."""

  b1: Any = 0.95
  b2: Any = 0.99
  gamma: Any = 0.025
  eps: Any = 1e-8
  b1_1d: Any = 0.9
  b2_1d: Any = 0.95
  optimize_1d: bool = static(default=False)
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    check_betas("scale_by_mars", self.b1, self.b2, self.eps)
    _checks.decay_rate("scale_by_mars", "b1_1d", self.b1_1d)
    _checks.decay_rate("scale_by_mars", "b2_1d", self.b2_1d)
    _checks.non_negative("scale_by_mars", "gamma", self.gamma)
    check_state_dtype("scale_by_mars", self.state_dtype)

  def init(self, params):
    mu, nu = zero_moments(params, state_dtype=self.state_dtype)
    return ScaleByMarsState(zero_count(), mu, nu, zeros_like(params, self.state_dtype))

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    count = safe_increment(state.count)
    corr = {
      k: (bias_correction(b1, count), bias_correction(b2, count))
      for k, (b1, b2) in (("mars", (self.b1, self.b2)), ("1d", (self.b1_1d, self.b2_1d)))
    }

    def leaf(g, m, v, last):
      cdt = compute_dtype(g.dtype)
      mars = self.optimize_1d or g.ndim == 2
      b1, b2 = (self.b1, self.b2) if mars else (self.b1_1d, self.b2_1d)
      c1, c2 = corr["mars" if mars else "1d"]
      gc = g.astype(cdt)
      x = _corrected(gc, load(last, cdt), hyper(self.gamma, cdt), hyper(b1, cdt)) if mars else gc
      _, m_new, v_new = adam_moments(x, m, v, b1, b2)
      u = adam_direction(m_new / hyper(c1, cdt), v_new / hyper(c2, cdt), hyper(self.eps, cdt), 0.0)
      return (
        u.astype(g.dtype),
        store(m_new, m, g, count),
        store(v_new, v, g, count),
        store(gc, last, g, count),
      )

    updates, mu, nu, last = map_leaves(leaf, updates, state.mu, state.nu, state.last_grad, n_out=4)
    return updates, ScaleByMarsState(count, mu, nu, last)


def scale_by_mars(
  b1: Any = 0.95,
  b2: Any = 0.99,
  gamma: Any = 0.025,
  eps: Any = 1e-8,
  b1_1d: Any = 0.9,
  b2_1d: Any = 0.95,
  optimize_1d: bool = False,
  *,
  state_dtype: Any = None,
) -> ScaleByMars:
  r"""MARS-AdamW's scaling (Yuan et al., 2024; reference code AGI-Arena/MARS,
  `mars_type="mars-adamw"`, `is_approx=True`).

  For 2-D leaves (the reference's `is_grad_2d`; all leaves with `optimize_1d=True`), with
  $g_0 = 0$ and $\|\cdot\|$ the leaf's Frobenius norm:

  $$
  \begin{aligned}
  c_t &= g_t + \gamma \frac{\beta_1}{1 - \beta_1} (g_t - g_{t-1}), \qquad
  c_t \leftarrow c_t / \|c_t\| \ \text{ if } \|c_t\| > 1, \\
  m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, c_t, \qquad
  v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, c_t^2, \qquad
  u_t = \frac{m_t / (1 - \beta_1^t)}{\sqrt{v_t / (1 - \beta_2^t)} + \epsilon}.
  \end{aligned}
  $$

  Other leaves get plain Adam on $g_t$ with $(\beta_1, \beta_2)$ = `(b1_1d, b2_1d)` (the
  reference's `betas_1d`).

  Defaults: `b1=0.95`, `b2=0.99`, `gamma=0.025`, `eps=1e-8`, `b1_1d=0.9`, `b2_1d=0.95`,
  `optimize_1d=False` (the reference code, `mars.py`).

  Args:
    b1: $\beta_1$ of the MARS leaves.
    b2: $\beta_2$ of the MARS leaves.
    gamma: $\gamma$, the weight of the gradient correction.
    eps: $\epsilon$, added to the root.
    b1_1d: $\beta_1$ of the other leaves.
    b2_1d: $\beta_2$ of the other leaves.
    optimize_1d: use MARS on every leaf, not only the 2-D ones.
    state_dtype: dtype of the state.

  Returns:
    A `ScaleByMars` transformation with state `ScaleByMarsState`.
  """
  return ScaleByMars(b1, b2, gamma, eps, b1_1d, b2_1d, optimize_1d, state_dtype)
