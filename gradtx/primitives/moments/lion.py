"""Lion: the sign of an interpolation between momentum and gradient."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import (
  complement,
  compute_dtype,
  hyper,
  map_leaves,
  pick_dtype,
  safe_increment,
  zero_count,
  zeros_like,
)

__all__ = ["ScaleByLion", "ScaleByLionState", "scale_by_lion"]

_MODES = ("hard", "smooth", "refined")


class ScaleByLionState(NamedTuple):
  """`count`: steps done; `mu`: the momentum `m`, shaped like the params."""

  count: jax.Array
  mu: Any


class ScaleByLion(GradientTransformation):
  """Lion's scaling; the update rule and defaults are on `scale_by_lion`."""

  b1: Any = 0.9
  b2: Any = 0.99
  mu_dtype: Any = static(default=None)
  mode: str = static(default="hard")
  smooth_beta: Any = 1.0
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    _checks.check(
      "scale_by_lion", "b1", self.b1, lambda v: (v >= 0) & (v <= 1), "a value in [0, 1]"
    )
    _checks.decay_rate("scale_by_lion", "b2", self.b2)
    if self.mode not in _MODES:
      raise ValueError(f"scale_by_lion: mode={self.mode!r} is invalid; expected one of {_MODES}.")

  def init(self, params):
    return ScaleByLionState(
      zero_count(), zeros_like(params, pick_dtype(self.mu_dtype, self.state_dtype))
    )

  def _sign(self, c: jax.Array) -> jax.Array:
    if self.mode == "smooth":
      return jnp.tanh(hyper(self.smooth_beta, c.dtype) * c)
    if self.mode == "refined":
      return jnp.where(jnp.abs(c) < 1, c, jnp.sign(c))
    return jnp.sign(c)

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args

    def leaf(g, m):
      cdt = compute_dtype(g.dtype)
      b1, b2 = hyper(self.b1, cdt), hyper(self.b2, cdt)
      gc, mc = g.astype(cdt), m.astype(cdt)
      u = self._sign(complement(self.b1, cdt) * gc + b1 * mc)
      m_new = b2 * mc + complement(self.b2, cdt) * gc
      return u.astype(g.dtype), m_new.astype(m.dtype)

    updates, mu = map_leaves(leaf, updates, state.mu, n_out=2)
    return updates, ScaleByLionState(safe_increment(state.count), mu)


def scale_by_lion(
  b1: Any = 0.9,
  b2: Any = 0.99,
  mu_dtype: Any = None,
  *,
  mode: str = "hard",
  smooth_beta: Any = 1.0,
  state_dtype: Any = None,
) -> ScaleByLion:
  r"""Lion's scaling (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms").

  $$
  c_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
  u_t = \operatorname{sign}(c_t), \qquad
  m_t = \beta_2 m_{t-1} + (1 - \beta_2)\, g_t,
  $$

  with $m_0 = 0$: the momentum is updated after the direction is taken, at its own rate
  $\beta_2$. Variants of the sign: `mode="smooth"`, $u_t = \tanh(\beta_s c_t)$ with
  $\beta_s$ = `smooth_beta`; `mode="refined"`, $u_t = c_t$ where $|c_t| < 1$, else
  $\operatorname{sign}(c_t)$.

  Defaults: `b1=0.9`, `b2=0.99` (Chen et al., 2023), `mode="hard"`, `smooth_beta=1`
  (Optax's `scale_by_lion`). `mu_dtype` (Optax's name) or `state_dtype` is the
  momentum's dtype.

  Args:
    b1: $\beta_1$, the interpolation taken the sign of.
    b2: $\beta_2$, the decay of the momentum.
    mu_dtype: dtype of $m$ (Optax's name).
    mode: `"hard"`, `"smooth"` or `"refined"`.
    smooth_beta: $\beta_s$ of `mode="smooth"`.
    state_dtype: dtype of $m$.

  Returns:
    A `ScaleByLion` transformation with state `ScaleByLionState(count, mu)`.
  """
  return ScaleByLion(b1, b2, mu_dtype, mode, smooth_beta, state_dtype)
