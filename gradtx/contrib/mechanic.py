"""Mechanic (Cutkosky, Defazio & Mehta, 2023): learns a scale for any base optimizer."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation
from gradtx.primitives.decay.weight_decay import require_params
from gradtx.tree_utils.dtypes import tree_dtype
from gradtx.tree_utils.reductions import tree_norm, tree_vdot

__all__ = ["MechanicState", "Mechanize", "mechanize"]


class MechanicState(NamedTuple):
  """Optax's fields; `r`, `m`, `v`, `s` have one entry per beta."""

  base_optimizer_state: Any
  count: jax.Array
  r: jax.Array
  m: jax.Array
  v: jax.Array
  s: jax.Array
  x0: Any


class Mechanize(GradientTransformation):
  """Mechanic; the update rule and defaults are on `mechanize`."""

  base_optimizer: Any
  weight_decay: Any = 1e-2
  eps: Any = 1e-8
  s_init: Any = 1e-6
  num_betas: int = static(default=6)

  def __post_init__(self):
    _checks.non_negative("mechanize", "weight_decay", self.weight_decay)
    _checks.non_negative("mechanize", "eps", self.eps)
    _checks.positive("mechanize", "s_init", self.s_init)
    _checks.positive_integer("mechanize", "num_betas", self.num_betas)

  def init(self, params):
    dt = tree_dtype(params, "lowest")
    zeros = jnp.zeros([self.num_betas], dt)
    return MechanicState(
      self.base_optimizer.init(params),
      jnp.zeros([], jnp.int32),
      zeros,
      zeros,
      zeros,
      jnp.full([self.num_betas], self.s_init, dt),
      jax.tree.map(lambda p: jnp.array(p, copy=True), params),
    )

  def update(self, updates, state, params=None, **extra_args):
    require_params("mechanize", params, updates)
    base_updates, base_state = self.base_optimizer.update(
      updates, state.base_optimizer_state, params, **extra_args
    )
    first = state.count == 0
    x0 = jax.tree.map(lambda p, q: jnp.where(first, p, q), params, state.x0)
    s_sum = jnp.sum(state.s)
    decay = self.weight_decay * s_sum * tree_norm(updates) / (tree_norm(params) + self.eps)
    g_reg = jax.tree.map(lambda g, p: g + decay * p, updates, params)
    delta_prev = jax.tree.map(lambda p, q: (q - p) / (s_sum + self.eps), params, x0)
    h = tree_vdot(g_reg, delta_prev)
    betas = jnp.asarray([1.0 - 0.1**i for i in range(1, self.num_betas + 1)], state.s.dtype)
    m = jnp.maximum(betas * state.m, jnp.abs(h) + self.eps)
    v = betas**2 * state.v + h**2
    r = betas * state.r + jnp.clip(h, -state.m, state.m) * state.s
    wealth = self.s_init / self.num_betas * m + jnp.maximum(r, 0.0)
    s = wealth / (jnp.sqrt(v) + self.eps)
    scale = jnp.sum(s)
    new = jax.tree.map(
      lambda q, dp, b, p: (q - scale * (dp - b)) - p, x0, delta_prev, base_updates, params
    )
    count = jnp.where(state.count < jnp.iinfo(jnp.int32).max, state.count + 1, state.count)
    return new, MechanicState(
      base_state,
      count,
      r.astype(state.r.dtype),
      m.astype(state.m.dtype),
      v.astype(state.v.dtype),
      s.astype(state.s.dtype),
      x0,
    )


def mechanize(
  base_optimizer: Any,
  weight_decay: Any = 1e-2,
  eps: Any = 1e-8,
  s_init: Any = 1e-6,
  num_betas: int = 6,
) -> Mechanize:
  r"""Mechanic (Cutkosky et al., 2023, Algorithm 1): learns the scale of `base_optimizer`'s
  updates.

  With $S = \sum_i s_i$, the base update $b_t$,
  $\Delta_t = (w_0 - w_{t-1}) / (S + \epsilon) - b_t$,
  $\tilde g_t = g_t + \lambda S \frac{\|g_t\|}{\|w_{t-1}\| + \epsilon} w_{t-1}$ and
  $h_t = \langle \tilde g_t, (w_0 - w_{t-1}) / (S + \epsilon) \rangle$, for each
  $\beta_i = 1 - 0.1^i$, $i = 1, \dots$, `num_betas`:

  $$
  \begin{aligned}
  m_i &\leftarrow \max(\beta_i m_i, |h_t| + \epsilon), \qquad
  v_i \leftarrow \beta_i^2 v_i + h_t^2, \qquad
  r_i \leftarrow \beta_i r_i + \operatorname{clip}(h_t, -m_i^{\mathrm{old}},
    m_i^{\mathrm{old}})\, s_i, \\
  W_i &= \frac{s_{\mathrm{init}}\, m_i}{n} + \max(r_i, 0), \qquad
  s_i = \frac{W_i}{\sqrt{v_i} + \epsilon}, \qquad
  w_t = w_0 - \Big(\sum_i s_i\Big) \Delta_t,
  \end{aligned}
  $$

  with $n$ = `num_betas`, $\lambda$ = `weight_decay`, $s_{\mathrm{init}}$ = `s_init`.

  Defaults: `weight_decay=1e-2` (the paper's $\lambda$), `eps=1e-8`, `s_init=1e-6`,
  `num_betas=6` (the paper; Optax's `contrib.mechanize`).

  Args:
    base_optimizer: the optimizer whose updates are scaled.
    weight_decay: $\lambda$.
    eps: $\epsilon$.
    s_init: $s_{\mathrm{init}}$.
    num_betas: $n$, the number of $\beta_i$.
  """
  return Mechanize(base_optimizer, weight_decay, eps, s_init, num_betas)
