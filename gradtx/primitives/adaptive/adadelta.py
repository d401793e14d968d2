"""Adadelta: a step scaled by the ratio of the RMS of past updates to that of gradients."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import (
  abs_sq,
  complement,
  compute_dtype,
  hyper,
  map_leaves,
  real_dtype,
  zeros_like,
)

__all__ = ["ScaleByAdaDelta", "ScaleByAdaDeltaState", "scale_by_adadelta"]


class ScaleByAdaDeltaState(NamedTuple):
  """`e_g`: moving average of `|g|^2`; `e_x`: moving average of `|u|^2`, shaped like the params."""

  e_g: Any
  e_x: Any


class ScaleByAdaDelta(GradientTransformation):
  """Adadelta's scaling; the update rule and defaults are on `scale_by_adadelta`."""

  rho: Any = 0.9
  eps: Any = 1e-6
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    _checks.decay_rate("scale_by_adadelta", "rho", self.rho)
    _checks.non_negative("scale_by_adadelta", "eps", self.eps)

  def init(self, params):
    return ScaleByAdaDeltaState(
      zeros_like(params, self.state_dtype, real=True),
      zeros_like(params, self.state_dtype, real=True),
    )

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args

    def leaf(g, e_g, e_x):
      cdt = compute_dtype(g.dtype)
      rdt = real_dtype(cdt)
      rho, eps = hyper(self.rho, cdt), hyper(self.eps, cdt)
      gc = g.astype(cdt)
      e_g_new = rho * e_g.astype(rdt) + complement(self.rho, cdt) * abs_sq(gc)
      denom = e_g_new + eps
      ratio = jnp.where(
        denom > 0, jnp.sqrt(e_x.astype(rdt) + eps) / jnp.sqrt(jnp.where(denom > 0, denom, 1.0)), 0.0
      )
      u = ratio * gc
      e_x_new = rho * e_x.astype(rdt) + complement(self.rho, cdt) * abs_sq(u)
      return u.astype(g.dtype), e_g_new.astype(e_g.dtype), e_x_new.astype(e_x.dtype)

    updates, e_g, e_x = map_leaves(leaf, updates, state.e_g, state.e_x, n_out=3)
    return updates, ScaleByAdaDeltaState(e_g, e_x)


def scale_by_adadelta(
  rho: Any = 0.9, eps: Any = 1e-6, *, state_dtype: Any = None
) -> ScaleByAdaDelta:
  r"""Adadelta's scaling (Zeiler, 2012).

  $$
  \begin{aligned}
  E[g^2]_t &= \rho\, E[g^2]_{t-1} + (1 - \rho)\, |g_t|^2, \qquad
  u_t = \frac{\sqrt{E[u^2]_{t-1} + \epsilon}}{\sqrt{E[g^2]_t + \epsilon}}\, g_t, \\
  E[u^2]_t &= \rho\, E[u^2]_{t-1} + (1 - \rho)\, |u_t|^2,
  \end{aligned}
  $$

  both averages starting at 0. The paper's step is $-u_t$ (`learning_rate = 1` in
  `adadelta`). $u_t = 0$ where $E[g^2]_t + \epsilon = 0$.

  Defaults: `rho=0.9`, `eps=1e-6` (Optax's `scale_by_adadelta`; the paper's $\rho = 0.95$).

  Args:
    rho: $\rho$, the decay of both averages.
    eps: $\epsilon$.
    state_dtype: dtype of the averages.

  Returns:
    A `ScaleByAdaDelta` transformation with state `ScaleByAdaDeltaState(e_g, e_x)`.
  """
  return ScaleByAdaDelta(rho, eps, state_dtype)
