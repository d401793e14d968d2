"""Adan: adaptive Nesterov momentum from gradient differences (Xie et al., 2022)."""

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
  real_dtype,
  safe_increment,
  zero_count,
  zeros_like,
)
from gradtx.primitives.moments.adam import adam_direction

__all__ = ["ScaleByAdan", "ScaleByAdanState", "scale_by_adan"]


class ScaleByAdanState(NamedTuple):
  """Optax's layout: `m`, `v`, `n` the moments of `g`, of `g_t - g_{t-1}` and of the
  squared Nesterov gradient; `g` the previous gradient; `t` the steps done."""

  m: Any
  v: Any
  n: Any
  g: Any
  t: jax.Array


class ScaleByAdan(GradientTransformation):
  """Adan's scaling; the update rule and defaults are on `scale_by_adan`."""

  b1: Any = 0.98
  b2: Any = 0.92
  b3: Any = 0.99
  eps: Any = 1e-8
  eps_root: Any = 0.0
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    for name in ("b1", "b2", "b3"):
      _checks.decay_rate("scale_by_adan", name, getattr(self, name))
    _checks.non_negative("scale_by_adan", "eps", self.eps)
    _checks.non_negative("scale_by_adan", "eps_root", self.eps_root)

  def init(self, params):
    # Separate buffers (not one zeros tree three times), so the state can be donated.
    zeros = lambda: zeros_like(params, self.state_dtype)
    return ScaleByAdanState(
      zeros(), zeros(), zeros_like(params, self.state_dtype, real=True), zeros(), zero_count()
    )

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    t = safe_increment(state.t)
    first = state.t == 0
    c1, c2, c3 = (bias_correction(b, t) for b in (self.b1, self.b2, self.b3))

    def leaf(g, m, v, n, g_prev):
      cdt = compute_dtype(g.dtype)
      b2 = hyper(self.b2, cdt)
      gc = g.astype(cdt)
      d = jnp.where(first, 0, gc - g_prev.astype(cdt))
      m_new = hyper(self.b1, cdt) * m.astype(cdt) + complement(self.b1, cdt) * gc
      v_new = b2 * v.astype(cdt) + complement(self.b2, cdt) * d
      n_new = hyper(self.b3, cdt) * n.astype(real_dtype(cdt)) + complement(self.b3, cdt) * abs_sq(
        gc + b2 * d
      )
      direction = m_new / hyper(c1, cdt) + b2 * v_new / hyper(c2, cdt)
      u = adam_direction(
        direction, n_new / hyper(c3, cdt), hyper(self.eps, cdt), hyper(self.eps_root, cdt)
      )
      return (
        u.astype(g.dtype),
        m_new.astype(m.dtype),
        v_new.astype(v.dtype),
        n_new.astype(n.dtype),
        gc.astype(g_prev.dtype),
      )

    updates, m, v, n, g = map_leaves(leaf, updates, state.m, state.v, state.n, state.g, n_out=5)
    return updates, ScaleByAdanState(m, v, n, g, t)


def scale_by_adan(
  b1: Any = 0.98,
  b2: Any = 0.92,
  b3: Any = 0.99,
  eps: Any = 1e-8,
  eps_root: Any = 0.0,
  *,
  state_dtype: Any = None,
) -> ScaleByAdan:
  r"""Adan's scaling (Xie et al., 2022, Algorithm 1; the authors' code, sail-sg/Adan).

  With $d_t = g_t - g_{t-1}$ ($d_1 = 0$):

  $$
  \begin{aligned}
  m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
  v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, d_t, \qquad
  n_t = \beta_3 n_{t-1} + (1 - \beta_3)\, |g_t + \beta_2 d_t|^2, \\
  u_t &= \frac{m_t / (1 - \beta_1^t) + \beta_2\, v_t / (1 - \beta_2^t)}
    {\sqrt{n_t / (1 - \beta_3^t) + \epsilon_{\mathrm{root}}} + \epsilon}.
  \end{aligned}
  $$

  The $\beta$s are one minus the paper's (whose betas weight the new term), so the paper's
  $(1 - \beta_2)$ on the difference terms is $\beta_2$ here, as in the authors' code;
  Optax 0.2.8 uses $1 - \beta_2$ there (docs/differences.md).

  Defaults: `b1=0.98`, `b2=0.92`, `b3=0.99`, `eps=1e-8` (the authors' code; Optax's
  `scale_by_adan`), `eps_root=0` (Optax).

  Args:
    b1: $\beta_1$, the decay of the gradient's moment.
    b2: $\beta_2$, the decay of the difference's moment.
    b3: $\beta_3$, the decay of the second moment.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added under the root.
    state_dtype: dtype of the moments.

  Returns:
    A `ScaleByAdan` transformation with state `ScaleByAdanState(m, v, n, g, t)`.
  """
  return ScaleByAdan(b1, b2, b3, eps, eps_root, state_dtype)
