"""Averaged SGD (Polyak & Juditsky, 1992; Bottou, 2012) with its decaying step, as
PyTorch's `ASGD`."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import (
  compute_dtype,
  hyper,
  map_leaves,
  safe_increment,
  scalar_dtype,
  zero_count,
  zeros_like,
)
from gradtx.primitives.decay.weight_decay import require_params

__all__ = ["ScaleByAsgd", "ScaleByAsgdState", "scale_by_asgd", "asgd_average"]


class ScaleByAsgdState(NamedTuple):
  """`count`; `eta`: the step the next update uses; `mu`: the next averaging weight;
  `ax`: the averaged parameters, shaped like the params."""

  count: jax.Array
  eta: jax.Array
  mu: jax.Array
  ax: Any


class ScaleByAsgd(GradientTransformation):
  """Averaged SGD's step; the rule and defaults are on `scale_by_asgd`."""

  learning_rate: Any = 1e-2
  lambd: Any = 1e-4
  alpha: Any = 0.75
  t0: Any = 1e6
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    for name in ("learning_rate", "lambd", "alpha", "t0"):
      _checks.non_negative("scale_by_asgd", name, getattr(self, name))

  def init(self, params):
    dt = scalar_dtype()
    return ScaleByAsgdState(
      zero_count(),
      jnp.asarray(self.learning_rate, dt),
      jnp.ones([], dt),
      zeros_like(params, self.state_dtype),
    )

  def update(self, updates, state, params=None, **extra_args):
    del extra_args
    require_params("scale_by_asgd", params, updates)
    count = safe_increment(state.count)
    dt = scalar_dtype()
    t = count.astype(dt)
    lr, lambd = jnp.asarray(self.learning_rate, dt), jnp.asarray(self.lambd, dt)
    averaging = state.mu != 1

    def leaf(g, p, a):
      cdt = compute_dtype(g.dtype)
      eta = hyper(state.eta, cdt)
      pc = p.astype(cdt)
      p_new = pc * (1.0 - hyper(lambd, cdt) * eta) - eta * g.astype(cdt)
      ac = a.astype(cdt)
      a_new = jnp.where(averaging, ac + hyper(state.mu, cdt) * (p_new - ac), p_new)
      return (p_new - pc).astype(g.dtype), a_new.astype(a.dtype)

    updates, ax = map_leaves(leaf, updates, params, state.ax, n_out=2)
    eta = lr / (1.0 + lambd * lr * t) ** jnp.asarray(self.alpha, dt)
    mu = 1.0 / jnp.maximum(1.0, t - jnp.asarray(self.t0, dt))
    return updates, ScaleByAsgdState(count, eta, mu, ax)


def scale_by_asgd(
  learning_rate: Any = 1e-2,
  lambd: Any = 1e-4,
  alpha: Any = 0.75,
  t0: Any = 1e6,
  *,
  state_dtype: Any = None,
) -> ScaleByAsgd:
  r"""Averaged SGD (Polyak & Juditsky, 1992) with the decaying step of Bottou (2012), as
  PyTorch's `ASGD`.

  With $\eta$ = `learning_rate`, $\lambda$ = `lambd`, $t = 1, 2, \dots$:

  $$
  \begin{aligned}
  w_t &= w_{t-1} (1 - \lambda \eta_t) - \eta_t\, g_t, \qquad
  a_t = a_{t-1} + \mu_t (w_t - a_{t-1}), \\
  \eta_{t+1} &= \frac{\eta}{(1 + \lambda \eta t)^{\alpha}}, \qquad
  \mu_{t+1} = \frac{1}{\max(1, t - t_0)},
  \end{aligned}
  $$

  with $\eta_1 = \eta$, $\mu_1 = 1$ ($a_t = w_t$ while $\mu_t = 1$). The update is the
  whole step $u_t = w_t - w_{t-1}$ (it includes $-\eta_t$) and needs `params`; read the
  average $a_t$ with `asgd_average`. `state_dtype` stores the average.

  Defaults: `learning_rate=1e-2`, `lambd=1e-4`, `alpha=0.75`, `t0=1e6` (PyTorch's `ASGD`).

  Args:
    learning_rate: $\eta$.
    lambd: $\lambda$, the decay term.
    alpha: $\alpha$, the power of the step's decay.
    t0: $t_0$, the step averaging starts after.
    state_dtype: dtype of the average.
  """
  return ScaleByAsgd(learning_rate, lambd, alpha, t0, state_dtype)


def asgd_average(state: Any) -> Any:
  r"""The averaged parameters $a_t$ kept by the `scale_by_asgd` stage found in `state`
  (any chain or wrapper state holding one):

  $$
  a_t = a_{t-1} + \mu_t\,(w_t - a_{t-1}), \qquad \mu_{t+1} = \frac{1}{\max(1, t - t_0)},
  $$

  the average torch's `ASGD` keeps as `optimizer.state[p]["ax"]` (Polyak and Juditsky,
  1992). Raises a `ValueError` unless `state` holds exactly one `ScaleByAsgdState`.

  Defaults: none (a state accessor; `t0=1e6` is `scale_by_asgd`'s, from PyTorch's `ASGD`).

  Args:
    state: an optimizer state containing one `ScaleByAsgdState`.
  """
  found = [
    s
    for s in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, ScaleByAsgdState))
    if isinstance(s, ScaleByAsgdState)
  ]
  if len(found) != 1:
    raise ValueError(
      f"asgd_average: expected one ScaleByAsgdState in the state, found {len(found)}."
    )
  return found[0].ax
