"""NovoGrad: a per-layer (per-leaf) second moment and a normalized first moment."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
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
  pick_dtype,
  real_dtype,
  safe_increment,
  state_dtype,
  zero_count,
  zeros_like,
)
from gradtx.primitives.decay.weight_decay import require_params

__all__ = ["ScaleByNovograd", "ScaleByNovogradState", "scale_by_novograd"]


class ScaleByNovogradState(NamedTuple):
  """`count`: steps done; `mu`: the momentum, shaped like the params; `nu`: one scalar
  per leaf, the moving average of `||g||^2`."""

  count: jax.Array
  mu: Any
  nu: Any


class ScaleByNovograd(GradientTransformation):
  """NovoGrad's scaling; the update rule and defaults are on `scale_by_novograd`."""

  b1: Any = 0.9
  b2: Any = 0.25
  eps: Any = 1e-8
  eps_root: Any = 0.0
  weight_decay: Any = 0.0
  mu_dtype: Any = static(default=None)
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    for name in ("b1", "b2"):
      _checks.decay_rate("scale_by_novograd", name, getattr(self, name))
    for name in ("eps", "eps_root", "weight_decay"):
      _checks.non_negative("scale_by_novograd", name, getattr(self, name))

  def init(self, params):
    mu = zeros_like(params, pick_dtype(self.mu_dtype, self.state_dtype))
    nu = jax.tree.map(
      lambda p: jnp.zeros([], real_dtype(state_dtype(p.dtype, self.state_dtype))), params
    )
    return ScaleByNovogradState(zero_count(), mu, nu)

  def update(self, updates, state, params=None, **extra_args):
    del extra_args
    wd = self.weight_decay
    decays = not (isinstance(wd, (int, float)) and wd == 0)
    if decays:
      require_params("scale_by_novograd", params, updates)
    count = safe_increment(state.count)
    first = count == 1

    def leaf(g, m, v, *p):
      cdt = compute_dtype(g.dtype)
      rdt = real_dtype(cdt)
      gc = g.astype(cdt)
      norm2 = jnp.sum(abs_sq(gc))
      v_new = jnp.where(
        first, norm2, hyper(self.b2, cdt) * v.astype(rdt) + complement(self.b2, cdt) * norm2
      )
      step = gc / (jnp.sqrt(v_new + hyper(self.eps_root, cdt)) + hyper(self.eps, cdt))
      if p:
        step = step + hyper(wd, cdt) * p[0].astype(cdt)
      m_new = jnp.where(first, step, hyper(self.b1, cdt) * m.astype(cdt) + step)
      return m_new.astype(g.dtype), m_new.astype(m.dtype), v_new.astype(v.dtype)

    rest = (params,) if decays else ()
    updates_, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, *rest, n_out=3, shapes=False)
    return updates_, ScaleByNovogradState(count, mu, nu)


def scale_by_novograd(
  b1: Any = 0.9,
  b2: Any = 0.25,
  eps: Any = 1e-8,
  eps_root: Any = 0.0,
  weight_decay: Any = 0.0,
  mu_dtype: Any = None,
  *,
  state_dtype: Any = None,
) -> ScaleByNovograd:
  r"""NovoGrad's scaling (Ginsburg et al., 2019, Algorithm 1), per leaf (a layer).

  $$
  \begin{aligned}
  v_1 &= \|g_1\|^2, \qquad v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, \|g_t\|^2, \\
  m_1 &= s_1, \qquad m_t = \beta_1 m_{t-1} + s_t, \qquad
  s_t = \frac{g_t}{\sqrt{v_t + \epsilon_{\mathrm{root}}} + \epsilon} + \lambda\, w_{t-1},
  \qquad u_t = m_t,
  \end{aligned}
  $$

  with $\|\cdot\|$ the leaf's norm and $\lambda$ = `weight_decay` (needs `params` when
  not 0).

  Defaults: `b1=0.9`, `b2=0.25`, `eps=1e-8`, `eps_root=0`, `weight_decay=0` (Optax's
  `scale_by_novograd`). `mu_dtype` (Optax's name) or `state_dtype` stores $m$.

  Args:
    b1: $\beta_1$, the decay of the momentum.
    b2: $\beta_2$, the decay of the layer-wise second moment.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added under the root.
    weight_decay: $\lambda$.
    mu_dtype: dtype of $m$ (Optax's name).
    state_dtype: dtype of the state.

  Returns:
    A `ScaleByNovograd` transformation with state `ScaleByNovogradState(count, mu, nu)`.
  """
  return ScaleByNovograd(b1, b2, eps, eps_root, weight_decay, mu_dtype, state_dtype)
