"""iRprop-: resilient backpropagation without weight backtracking, as PyTorch's `Rprop`."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import compute_dtype, full_like, hyper, map_leaves, zeros_like

__all__ = ["ScaleByIrpropMinus", "ScaleByIrpropMinusState", "scale_by_irprop_minus"]


class ScaleByIrpropMinusState(NamedTuple):
  """`step_size`: per-coordinate step `s`; `prev`: the previous (masked) gradient."""
  step_size: Any
  prev: Any


class ScaleByIrpropMinus(GradientTransformation):
  """iRprop- (Igel & Huesken, 2000; Riedmiller & Braun, 1993), PyTorch's `Rprop`.

  With `q = g_t * g'_{t-1}`: `s_t = clip(s_{t-1} * eta, min_step_size, max_step_size)`
  where `eta = eta_plus` if `q > 0`, `eta_minus` if `q < 0`, 1 if `q = 0`;
  `g'_t = 0` where `q < 0`, else `g_t`; `u_t = s_t * sign(g'_t)` (descend with
  `scale(-1)`). `s_0 = learning_rate`, `g'_0 = 0`. The step is taken in the
  same update that sees the gradient (Optax's `scale_by_rprop` returns the
  previous step's update instead). Defaults (PyTorch): `eta_minus=0.5`,
  `eta_plus=1.2`, `min_step_size=1e-6`, `max_step_size=50`.
  """

  learning_rate: Any = 1e-2
  eta_minus: Any = 0.5
  eta_plus: Any = 1.2
  min_step_size: Any = 1e-6
  max_step_size: Any = 50.0

  def __post_init__(self):
    _checks.non_negative("scale_by_irprop_minus", "learning_rate", self.learning_rate)
    _checks.check("scale_by_irprop_minus", "eta_minus", self.eta_minus,
                  lambda v: (v > 0) & (v < 1), "a value in (0, 1)")
    _checks.check("scale_by_irprop_minus", "eta_plus", self.eta_plus, lambda v: v > 1,
                  "a value > 1")

  def init(self, params):
    return ScaleByIrpropMinusState(full_like(params, self.learning_rate), zeros_like(params))

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args

    def leaf(g, s, prev):
      cdt = compute_dtype(g.dtype)
      gc = g.astype(cdt)
      q = jnp.sign(gc * prev.astype(cdt))
      eta = jnp.where(q > 0, hyper(self.eta_plus, cdt),
                      jnp.where(q < 0, hyper(self.eta_minus, cdt), 1.0))
      s_new = jnp.clip(s.astype(cdt) * eta, hyper(self.min_step_size, cdt),
                       hyper(self.max_step_size, cdt))
      g_kept = jnp.where(q < 0, 0.0, gc)
      u = jnp.sign(g_kept) * s_new
      return u.astype(g.dtype), s_new.astype(s.dtype), g_kept.astype(prev.dtype)

    updates, step_size, prev = map_leaves(leaf, updates, state.step_size, state.prev, n_out=3)
    return updates, ScaleByIrpropMinusState(step_size, prev)


def scale_by_irprop_minus(learning_rate: Any = 1e-2, eta_minus: Any = 0.5, eta_plus: Any = 1.2,
                          min_step_size: Any = 1e-6,
                          max_step_size: Any = 50.0) -> ScaleByIrpropMinus:
  """iRprop-'s per-coordinate steps (see `ScaleByIrpropMinus`)."""
  return ScaleByIrpropMinus(learning_rate, eta_minus, eta_plus, min_step_size, max_step_size)
