"""AdEMAMix (Pagliardini et al., 2024): Adam plus a slow EMA, and its simplified form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
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
  pick_dtype,
  real_dtype,
  safe_increment,
  zero_count,
  zeros_like,
)
from gradtx.primitives.decay.weight_decay import add_decayed_weights
from gradtx.primitives.moments.adam import check_betas
from gradtx.primitives.scaling.scaling import evaluate, scale_by_learning_rate

__all__ = [
  "ScaleByAdemamixState",
  "ScaleBySimplifiedAdEMAMixState",
  "ScaleByAdemamix",
  "ScaleBySimplifiedAdemamix",
  "scale_by_ademamix",
  "scale_by_simplified_ademamix",
  "ademamix",
  "simplified_ademamix",
]


class ScaleByAdemamixState(NamedTuple):
  """Optax's fields: `count`, `count_m2` (the count the `b3`/`alpha` schedules see),
  `m1` (fast EMA), `m2` (slow EMA), `nu` (second moment)."""

  count: jax.Array
  count_m2: jax.Array
  m1: Any
  m2: Any
  nu: Any


class ScaleBySimplifiedAdEMAMixState(NamedTuple):
  """Optax's fields: `t` (count), `m` (the accumulated sum), `n` (second moment)."""

  t: jax.Array
  m: Any
  n: Any


def _check_schedule(owner: str, name: str, value: Any, check: Callable) -> None:
  if not callable(value):
    check(owner, name, value)


class ScaleByAdemamix(GradientTransformation):
  """AdEMAMix's scaling; the update rule and defaults are on `scale_by_ademamix`."""

  b1: Any = 0.9
  b2: Any = 0.999
  b3: Any = 0.9999
  alpha: Any = 6.0
  eps: Any = 1e-8
  eps_root: Any = 0.0
  mu_dtype: Any = static(default=None)
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    check_betas("scale_by_ademamix", self.b1, self.b2, self.eps, self.eps_root)
    _check_schedule("scale_by_ademamix", "b3", self.b3, _checks.decay_rate)
    _check_schedule("scale_by_ademamix", "alpha", self.alpha, _checks.non_negative)

  def init(self, params):
    mdt = pick_dtype(self.mu_dtype, self.state_dtype)
    return ScaleByAdemamixState(
      zero_count(),
      zero_count(),
      zeros_like(params, mdt),
      zeros_like(params, mdt),
      zeros_like(params, mdt, real=True),
    )

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    b3, alpha = evaluate(self.b3, state.count_m2), evaluate(self.alpha, state.count_m2)
    count = safe_increment(state.count)
    c1, c2 = bias_correction(self.b1, count), bias_correction(self.b2, count)

    def leaf(g, m1, m2, v):
      cdt = compute_dtype(g.dtype)
      gc = g.astype(cdt)
      b1c, b2c, b3c = hyper(self.b1, cdt), hyper(self.b2, cdt), hyper(b3, cdt)
      m1n = b1c * m1.astype(cdt) + complement(self.b1, cdt) * gc
      m2n = b3c * m2.astype(cdt) + complement(b3, cdt) * gc
      vn = b2c * v.astype(real_dtype(cdt)) + complement(self.b2, cdt) * abs_sq(gc)
      den = jnp.sqrt(vn / hyper(c2, cdt) + hyper(self.eps_root, cdt)) + hyper(self.eps, cdt)
      u = (m1n / hyper(c1, cdt) + hyper(alpha, cdt) * m2n) / den
      return cast(u, g.dtype), cast(m1n, m1.dtype), cast(m2n, m2.dtype), cast(vn, v.dtype)

    u, m1, m2, nu = map_leaves(leaf, updates, state.m1, state.m2, state.nu, n_out=4)
    return u, ScaleByAdemamixState(count, safe_increment(state.count_m2), m1, m2, nu)


class ScaleBySimplifiedAdemamix(GradientTransformation):
  """Simplified AdEMAMix's scaling; the update rule and defaults are on
  `scale_by_simplified_ademamix`."""

  b1: Any = 0.99
  b2: Any = 0.95
  alpha: Any = 0.0
  eps: Any = 1e-8
  eps_root: Any = 0.0
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    check_betas("scale_by_simplified_ademamix", self.b1, self.b2, self.eps, self.eps_root)
    _check_schedule("scale_by_simplified_ademamix", "alpha", self.alpha, _checks.non_negative)

  def init(self, params):
    return ScaleBySimplifiedAdEMAMixState(
      zero_count(),
      zeros_like(params, self.state_dtype),
      zeros_like(params, self.state_dtype, real=True),
    )

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    alpha = evaluate(self.alpha, state.t)
    t = safe_increment(state.t)
    c2 = bias_correction(self.b2, t)

    def leaf(g, m, n):
      cdt = compute_dtype(g.dtype)
      gc = g.astype(cdt)
      mn = hyper(self.b1, cdt) * m.astype(cdt) + gc
      b2c = hyper(self.b2, cdt)
      nn = b2c * n.astype(real_dtype(cdt)) + complement(self.b2, cdt) * abs_sq(gc)
      den = jnp.sqrt(nn / hyper(c2, cdt) + hyper(self.eps_root, cdt)) + hyper(self.eps, cdt)
      return (
        cast((mn + hyper(alpha, cdt) * gc) / den, g.dtype),
        cast(mn, m.dtype),
        cast(nn, n.dtype),
      )

    u, m, n = map_leaves(leaf, updates, state.m, state.n, n_out=3)
    return u, ScaleBySimplifiedAdEMAMixState(t, m, n)


def scale_by_ademamix(
  b1: Any = 0.9,
  b2: Any = 0.999,
  b3: Any = 0.9999,
  alpha: Any = 6.0,
  eps: Any = 1e-8,
  eps_root: Any = 0.0,
  mu_dtype: Any = None,
  *,
  state_dtype: Any = None,
) -> ScaleByAdemamix:
  r"""AdEMAMix's scaling (Pagliardini et al., 2024): a fast and a slow EMA of the
  gradient.

  $$
  \begin{aligned}
  m^{(1)}_t &= \beta_1 m^{(1)}_{t-1} + (1 - \beta_1)\, g_t, \qquad
  m^{(2)}_t = \beta_{3,t} m^{(2)}_{t-1} + (1 - \beta_{3,t})\, g_t, \qquad
  \nu_t = \beta_2 \nu_{t-1} + (1 - \beta_2)\, g_t^2, \\
  u_t &= \frac{m^{(1)}_t / (1 - \beta_1^t) + \alpha_t\, m^{(2)}_t}
    {\sqrt{\nu_t / (1 - \beta_2^t) + \epsilon_{\mathrm{root}}} + \epsilon},
  \end{aligned}
  $$

  the slow EMA not bias-corrected, as the paper. $\beta_3$ = `b3` and $\alpha$ = `alpha`
  may be schedules of the step (the paper's warm-ups, e.g.
  $\alpha_t = \min(t / T, 1)\, \alpha$).

  Defaults: `b1=0.9`, `b2=0.999`, `b3=0.9999`, `alpha=6`, `eps=1e-8`, `eps_root=0`
  (Optax's `contrib.scale_by_ademamix`; `ademamix` uses `alpha=5`, as Optax).

  Args:
    b1: $\beta_1$, the decay of the fast EMA.
    b2: $\beta_2$, the decay of the second moment.
    b3: $\beta_3$, the decay of the slow EMA (a number or a schedule).
    alpha: $\alpha$, the weight of the slow EMA (a number or a schedule).
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added under the root.
    mu_dtype: dtype of the EMAs.
    state_dtype: dtype of the state.

  Returns:
    A `ScaleByAdemamix` transformation with state `ScaleByAdemamixState`.
  """
  return ScaleByAdemamix(b1, b2, b3, alpha, eps, eps_root, mu_dtype, state_dtype)


def scale_by_simplified_ademamix(
  b1: Any = 0.99,
  b2: Any = 0.95,
  alpha: Any = 0.0,
  eps: Any = 1e-8,
  eps_root: Any = 0.0,
  *,
  state_dtype: Any = None,
) -> ScaleBySimplifiedAdemamix:
  r"""Simplified AdEMAMix's scaling (Morwani et al., 2024).

  $$
  m_t = \beta_1 m_{t-1} + g_t, \qquad
  n_t = \beta_2 n_{t-1} + (1 - \beta_2)\, g_t^2, \qquad
  u_t = \frac{m_t + \alpha_t\, g_t}{\sqrt{n_t / (1 - \beta_2^t) + \epsilon_{\mathrm{root}}}
    + \epsilon},
  $$

  (no $1 - \beta_1$ on the accumulated sum); $\alpha$ may be a schedule of the step.

  Defaults: `b1=0.99`, `b2=0.95`, `alpha=0`, `eps=1e-8`, `eps_root=0` (Optax's
  `contrib.scale_by_simplified_ademamix`).

  Args:
    b1: $\beta_1$, the decay of the accumulated sum.
    b2: $\beta_2$, the decay of the second moment.
    alpha: $\alpha$, the weight of the current gradient (a number or a schedule).
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added under the root.
    state_dtype: dtype of the state.

  Returns:
    A `ScaleBySimplifiedAdemamix` transformation with state
    `ScaleBySimplifiedAdEMAMixState`.
  """
  return ScaleBySimplifiedAdemamix(b1, b2, alpha, eps, eps_root, state_dtype)


def _ademamix(
  learning_rate: Any,
  b1: Any = 0.9,
  b2: Any = 0.999,
  b3: Any = 0.9999,
  alpha: Any = 5.0,
  eps: Any = 1e-8,
  eps_root: Any = 0.0,
  mu_dtype: Any = None,
  weight_decay: Any = 0.0,
  mask: Any = None,
  *,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""AdEMAMix (Pagliardini et al., 2024) with decoupled weight decay.

  $$
  w_t = w_{t-1} - \eta_t \big( u_t + \lambda\, w_{t-1} \big),
  $$

  with AdEMAMix's direction $u_t$ (`scale_by_ademamix`) and $\lambda$ = `weight_decay`
  (on `mask`).

  Defaults: `b1=0.9`, `b2=0.999`, `b3=0.9999`, `alpha=5`, `eps=1e-8`, `eps_root=0`,
  `weight_decay=0` (Optax's `contrib.ademamix`).

  Args:
    learning_rate: $\eta$, a number or a schedule.
    b1: $\beta_1$, the decay of the fast EMA.
    b2: $\beta_2$, the decay of the second moment.
    b3: $\beta_3$, the decay of the slow EMA (a number or a schedule).
    alpha: $\alpha$, the weight of the slow EMA (a number or a schedule).
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added under the root.
    mu_dtype: dtype of the EMAs.
    weight_decay: $\lambda$.
    mask: the leaves decayed; all by default.
    state_dtype: dtype of the state.
  """
  return chain(
    scale_by_ademamix(b1, b2, b3, alpha, eps, eps_root, mu_dtype, state_dtype=state_dtype),
    add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate),
  )


def _simplified_ademamix(
  learning_rate: Any,
  b1: Any = 0.99,
  b2: Any = 0.95,
  alpha: Any = 0.0,
  eps: Any = 1e-8,
  eps_root: Any = 0.0,
  weight_decay: Any = 0.0,
  mask: Any = None,
  *,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""Simplified AdEMAMix (Morwani et al., 2024) with decoupled weight decay.

  $$
  w_t = w_{t-1} - \eta_t \big( u_t + \lambda\, w_{t-1} \big),
  $$

  with $u_t$ from `scale_by_simplified_ademamix` and $\lambda$ = `weight_decay` (on
  `mask`).

  Defaults: `b1=0.99`, `b2=0.95`, `alpha=0`, `eps=1e-8`, `eps_root=0`, `weight_decay=0`
  (Optax's `contrib.simplified_ademamix`).

  Args:
    learning_rate: $\eta$, a number or a schedule.
    b1: $\beta_1$, the decay of the accumulated sum.
    b2: $\beta_2$, the decay of the second moment.
    alpha: $\alpha$, the weight of the current gradient (a number or a schedule).
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added under the root.
    weight_decay: $\lambda$.
    mask: the leaves decayed; all by default.
    state_dtype: dtype of the state.
  """
  return chain(
    scale_by_simplified_ademamix(b1, b2, alpha, eps, eps_root, state_dtype=state_dtype),
    add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate),
  )


ademamix = named_optimizer(_ademamix)
simplified_ademamix = named_optimizer(_simplified_ademamix)
