"""ACProp (Zhuang et al., 2021): centred second moment, used one step late."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

from gradtx.combinators.combine import chain
from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.named import named_optimizer
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import (
  abs_sq,
  bias_correction,
  cast,
  complement,
  compute_dtype,
  hyper,
  map_leaves,
  real_dtype,
  safe_increment,
  zero_count,
  zeros_like,
)
from gradtx.primitives.decay.weight_decay import add_decayed_weights
from gradtx.primitives.moments.adam import ScaleByAdamState
from gradtx.primitives.scaling.scaling import scale_by_learning_rate

__all__ = ["ScaleByAcprop", "scale_by_acprop", "acprop"]


class ScaleByAcprop(GradientTransformation):
  """ACProp's scaling; the update rule and defaults are on `scale_by_acprop`."""

  b1: Any = 0.9
  b2: Any = 0.999
  eps: Any = 1e-16
  eps_root: Any = 1e-16
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    _checks.decay_rate("scale_by_acprop", "b1", self.b1)
    _checks.decay_rate("scale_by_acprop", "b2", self.b2)
    _checks.non_negative("scale_by_acprop", "eps", self.eps)
    _checks.non_negative("scale_by_acprop", "eps_root", self.eps_root)

  def init(self, params):
    return ScaleByAdamState(
      zero_count(),
      zeros_like(params, self.state_dtype),
      zeros_like(params, self.state_dtype, real=True),
    )

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    first = state.count == 0
    c2 = jnp.where(first, 1.0, bias_correction(self.b2, jnp.maximum(state.count, 1)))

    def leaf(g, m, v):
      cdt = compute_dtype(g.dtype)
      gc, mc, vc = g.astype(cdt), m.astype(cdt), v.astype(real_dtype(cdt))
      b1, b2 = hyper(self.b1, cdt), hyper(self.b2, cdt)
      m_new = b1 * mc + complement(self.b1, cdt) * gc
      v_new = b2 * vc + complement(self.b2, cdt) * abs_sq(gc - mc) + hyper(self.eps_root, cdt)
      v_hat = jnp.where(first, 1.0, vc / hyper(c2, cdt))
      u = gc / (jnp.sqrt(v_hat) + hyper(self.eps, cdt))
      return cast(u, g.dtype), cast(m_new, m.dtype), cast(v_new, v.dtype)

    u, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, n_out=3)
    return u, ScaleByAdamState(safe_increment(state.count), mu, nu)


def scale_by_acprop(
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-16,
  eps_root: Any = 1e-16,
  *,
  state_dtype: Any = None,
) -> ScaleByAcprop:
  r"""ACProp's scaling (Zhuang et al., 2021; reference code
  juntang-zhuang/ACProp-Optimizer).

  $$
  m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
  s_t = \beta_2 s_{t-1} + (1 - \beta_2)\, |g_t - m_{t-1}|^2 + \epsilon_{\mathrm{root}},
  \qquad u_t = \frac{g_t}{\sqrt{s_{t-1} / (1 - \beta_2^{t-1})} + \epsilon},
  $$

  with $u_1 = g_1 / (1 + \epsilon)$: the denominator uses the state before this step (the
  "asynchronous" update) and the prediction error is against the old $m$, as Optax.

  Defaults: `b1=0.9`, `b2=0.999`, `eps=1e-16`, `eps_root=1e-16` (Optax's
  `scale_by_acprop`).

  Args:
    b1: $\beta_1$, the decay of $m$.
    b2: $\beta_2$, the decay of $s$.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added to the stored $s_t$.
    state_dtype: dtype of the state.

  Returns:
    A `ScaleByAcprop` transformation with state `ScaleByAdamState(count, mu, nu)` (the
    layout of Optax's `ScaleByBeliefState`).
  """
  return ScaleByAcprop(b1, b2, eps, eps_root, state_dtype)


def _acprop(
  learning_rate: Any,
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-16,
  eps_root: Any = 1e-16,
  weight_decay: Any = 0.0,
  mask: Any | Callable[..., Any] | None = None,
  *,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""ACProp (Zhuang et al., 2021) with decoupled weight decay (Optax's chain).

  $$
  w_t = w_{t-1} - \eta_t \big( u_t + \lambda\, w_{t-1} \big),
  $$

  with $u_t$ ACProp's direction (`scale_by_acprop`) and $\lambda$ = `weight_decay` (on
  `mask`).

  Defaults: `b1=0.9`, `b2=0.999`, `eps=1e-16`, `eps_root=1e-16`, `weight_decay=0`
  (Optax's `contrib.acprop`).

  Args:
    learning_rate: $\eta$, a number or a schedule.
    b1: $\beta_1$, the decay of $m$.
    b2: $\beta_2$, the decay of $s$.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added to the stored $s_t$.
    weight_decay: $\lambda$.
    mask: the leaves decayed; all by default.
    state_dtype: dtype of the state.
  """
  return chain(
    scale_by_acprop(b1, b2, eps, eps_root, state_dtype=state_dtype),
    add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate),
  )


acprop = named_optimizer(_acprop)
