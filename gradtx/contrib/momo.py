"""MoMo and MoMo-Adam (Schaipp et al., 2023): momentum with a Polyak-type step size cap."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

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
  safe_increment,
  zero_count,
  zeros_like,
)
from gradtx.primitives.decay.weight_decay import require_params
from gradtx.primitives.scaling.scaling import evaluate
from gradtx.tree_utils.dtypes import tree_dtype
from gradtx.tree_utils.reductions import tree_norm, tree_vdot

__all__ = ["MomoState", "MomoAdamState", "Momo", "MomoAdam", "momo", "momo_adam"]


class MomoState(NamedTuple):
  """Optax's fields: `exp_avg` (`d`), `barf` (averaged loss), `gamma` (averaged `<g, x>`),
  `lb` (the loss lower bound), `count`."""

  exp_avg: Any
  barf: jax.Array
  gamma: jax.Array
  lb: jax.Array
  count: jax.Array


class MomoAdamState(NamedTuple):
  """As `MomoState`, plus `exp_avg_sq` (Adam's second moment)."""

  exp_avg: Any
  exp_avg_sq: Any
  barf: jax.Array
  gamma: jax.Array
  lb: jax.Array
  count: jax.Array


def _scalars(state: Any, params: Any, updates: Any, value: Any, b: Any) -> tuple:
  """`barf = b barf + (1 - b) f`, `gamma = b gamma + (1 - b) <g, x>`, in at least float32."""
  if value is None:
    raise ValueError("momo: update() needs the loss as `value=`.")
  cdt = compute_dtype(state.barf.dtype)
  b = hyper(b, cdt)
  barf = b * cast(state.barf, cdt) + (1 - b) * jnp.asarray(value, cdt)
  gamma = b * cast(state.gamma, cdt) + (1 - b) * cast(jnp.asarray(tree_vdot(updates, params)), cdt)
  return barf, gamma


def _stored(state: Any, barf: Any, gamma: Any) -> tuple[jax.Array, jax.Array]:
  """`barf`, `gamma` back in the state's dtype (the params' lowest, as Optax's)."""
  return cast(barf, state.barf.dtype), cast(gamma, state.gamma.dtype)


def _step(state, barf, gamma, iprod, norm, alpha, wd, lower_bound, adapt, bc1: Any = 1.0):
  """The capped step `tau` and the next lower bound (Algorithm 1/2 and 3 of the paper)."""
  k = 1 + alpha * wd
  lb = state.lb
  if adapt:
    cap = k * (barf - gamma) + iprod
    lb = jnp.where(
      cap < k * bc1 * state.lb, jnp.maximum(cap / (2 * bc1 * k), lower_bound), state.lb
    )
  t1 = jnp.maximum(k * (barf - bc1 * lb - gamma) + iprod, 0.0) / norm
  t1 = jnp.where(norm <= jnp.finfo(float).eps, 0.0, t1)
  tau = jnp.minimum(alpha / bc1, t1)
  new_lb = state.lb
  if adapt:
    new_lb = jnp.maximum(((barf + iprod - gamma) - tau * norm / 2) / bc1, lower_bound)
  return tau, new_lb.astype(state.lb.dtype)


class Momo(GradientTransformation):
  """MoMo; the update rule and defaults are on `momo`."""

  learning_rate: Any = 1.0
  beta: Any = 0.9
  lower_bound: Any = 0.0
  weight_decay: Any = 0.0
  adapt_lower_bound: bool = static(default=False)

  def __post_init__(self):
    _checks.decay_rate("momo", "beta", self.beta)
    _checks.non_negative("momo", "weight_decay", self.weight_decay)

  def init(self, params):
    dt = tree_dtype(params, "lowest")
    zero = jnp.zeros([], dt)
    return MomoState(
      zeros_like(params), zero, zero, jnp.asarray(self.lower_bound, dt), zero_count()
    )

  def update(self, updates, state, params=None, *, value=None, **extra_args):
    del extra_args
    require_params("momo", params, updates)
    b = jnp.where(state.count == 0, 0.0, self.beta)
    barf, gamma = _scalars(state, params, updates, value, b)

    def leaf(m, g):
      cdt = compute_dtype(g.dtype)
      bc = hyper(b, cdt)
      return (cast(bc * cast(m, cdt) + (1 - bc) * cast(g, cdt), m.dtype),)

    d = map_leaves(leaf, state.exp_avg, updates, n_out=1)[0]
    alpha = evaluate(self.learning_rate, state.count)
    tau, lb = _step(
      state,
      barf,
      gamma,
      tree_vdot(d, params),
      tree_norm(d, squared=True),
      alpha,
      self.weight_decay,
      self.lower_bound,
      self.adapt_lower_bound,
    )
    shrink = alpha * self.weight_decay / (1 + alpha * self.weight_decay)
    u = jax.tree.map(lambda m, p, g: cast(-shrink * p - tau * m, g.dtype), d, params, updates)
    return u, MomoState(d, *_stored(state, barf, gamma), lb, safe_increment(state.count))


class MomoAdam(GradientTransformation):
  """MoMo-Adam; the update rule and defaults are on `momo_adam`."""

  learning_rate: Any = 1e-2
  b1: Any = 0.9
  b2: Any = 0.999
  eps: Any = 1e-8
  lower_bound: Any = 0.0
  weight_decay: Any = 0.0
  adapt_lower_bound: bool = static(default=False)

  def __post_init__(self):
    _checks.decay_rate("momo_adam", "b1", self.b1)
    _checks.decay_rate("momo_adam", "b2", self.b2)
    _checks.non_negative("momo_adam", "eps", self.eps)
    _checks.non_negative("momo_adam", "weight_decay", self.weight_decay)

  def init(self, params):
    dt = tree_dtype(params, "lowest")
    zero = jnp.zeros([], dt)
    return MomoAdamState(
      zeros_like(params),
      zeros_like(params, real=True),
      zero,
      zero,
      jnp.asarray(self.lower_bound, dt),
      zero_count(),
    )

  def update(self, updates, state, params=None, *, value=None, **extra_args):
    del extra_args
    require_params("momo_adam", params, updates)
    count = safe_increment(state.count)
    barf, gamma = _scalars(state, params, updates, value, self.b1)
    bc2 = bias_correction(self.b2, count)

    def leaf(g, m, v):
      cdt = compute_dtype(g.dtype)
      gc, b1, b2 = g.astype(cdt), hyper(self.b1, cdt), hyper(self.b2, cdt)
      m_new = b1 * m.astype(cdt) + complement(self.b1, cdt) * gc
      v_new = b2 * v.astype(cdt) + complement(self.b2, cdt) * abs_sq(gc)
      precond = hyper(self.eps, cdt) + jnp.sqrt(v_new / hyper(bc2, cdt))
      return cast(m_new, m.dtype), cast(v_new, v.dtype), m_new / precond

    d, v, d_weighted = map_leaves(leaf, updates, state.exp_avg, state.exp_avg_sq, n_out=3)
    alpha = evaluate(self.learning_rate, state.count)
    tau, lb = _step(
      state,
      barf,
      gamma,
      tree_vdot(d, params),
      tree_vdot(d, d_weighted),
      alpha,
      self.weight_decay,
      self.lower_bound,
      self.adapt_lower_bound,
      bias_correction(self.b1, count),
    )
    shrink = alpha * self.weight_decay / (1 + alpha * self.weight_decay)
    u = jax.tree.map(
      lambda dw, p, g: cast(-shrink * p - tau * dw, g.dtype), d_weighted, params, updates
    )
    return u, MomoAdamState(d, v, *_stored(state, barf, gamma), lb, count)


def _momo(
  learning_rate: Any = 1.0,
  beta: Any = 0.9,
  lower_bound: Any = 0.0,
  weight_decay: Any = 0.0,
  adapt_lower_bound: bool = False,
) -> Momo:
  r"""MoMo, model-based momentum SGD (Schaipp et al., 2023). Needs `value=` (the loss).

  With $f_t$ the loss, $\beta = 0$ on the first step (so $d_1 = g_1$) and `beta` after,
  $\eta$ = `learning_rate`, $\lambda$ = `weight_decay`, $k = 1 + \eta \lambda$ and $\ell$
  the loss lower bound:

  $$
  \begin{aligned}
  d_t &= \beta d_{t-1} + (1 - \beta)\, g_t, \qquad
  \bar f_t = \beta \bar f_{t-1} + (1 - \beta) f_t, \qquad
  \gamma_t = \beta \gamma_{t-1} + (1 - \beta) \langle g_t, w_{t-1} \rangle, \\
  \tau_t &= \min\Big(\eta, \frac{\max\big(k (\bar f_t - \ell - \gamma_t)
    + \langle d_t, w_{t-1} \rangle, 0\big)}{\|d_t\|^2}\Big), \qquad
  u_t = -\frac{\eta \lambda}{k} w_{t-1} - \tau_t d_t.
  \end{aligned}
  $$

  `adapt_lower_bound=True` estimates $\ell$ online (the paper's Algorithm 3).

  Defaults: `learning_rate=1`, `beta=0.9`, `lower_bound=0`, `weight_decay=0` (the paper;
  Optax's `contrib.momo`).

  Args:
    learning_rate: $\eta$, the cap of the step (number or schedule).
    beta: $\beta$, the decay of the averages.
    lower_bound: $\ell$, a lower bound of the loss.
    weight_decay: $\lambda$.
    adapt_lower_bound: estimate $\ell$ online.
  """
  return Momo(learning_rate, beta, lower_bound, weight_decay, adapt_lower_bound)


def _momo_adam(
  learning_rate: Any = 1e-2,
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-8,
  lower_bound: Any = 0.0,
  weight_decay: Any = 0.0,
  adapt_lower_bound: bool = False,
) -> MomoAdam:
  r"""MoMo-Adam (Schaipp et al., 2023): MoMo with Adam's preconditioner. Needs `value=`.

  With $\bar f_t$, $\gamma_t$, $k$ and $\ell$ as in `momo` (averaged at rate $\beta_1$):

  $$
  \begin{aligned}
  d_t &= \beta_1 d_{t-1} + (1 - \beta_1)\, g_t, \qquad
  v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2, \qquad
  D_t = \epsilon + \sqrt{v_t / (1 - \beta_2^t)}, \qquad c_t = 1 - \beta_1^t, \\
  \tau_t &= \min\Big(\frac{\eta}{c_t}, \frac{\max\big(k (\bar f_t - c_t \ell - \gamma_t)
    + \langle d_t, w_{t-1} \rangle, 0\big)}{\langle d_t, d_t / D_t \rangle}\Big), \qquad
  u_t = -\frac{\eta \lambda}{k} w_{t-1} - \tau_t \frac{d_t}{D_t}.
  \end{aligned}
  $$

  Defaults: `learning_rate=1e-2`, `b1=0.9`, `b2=0.999`, `eps=1e-8`, `lower_bound=0`,
  `weight_decay=0` (the paper; Optax's `contrib.momo_adam`).

  Args:
    learning_rate: $\eta$, the cap of the step (number or schedule).
    b1: $\beta_1$, the decay of $d$ and of the averages.
    b2: $\beta_2$, the decay of $v$.
    eps: $\epsilon$.
    lower_bound: $\ell$, a lower bound of the loss.
    weight_decay: $\lambda$.
    adapt_lower_bound: estimate $\ell$ online.
  """
  return MomoAdam(learning_rate, b1, b2, eps, lower_bound, weight_decay, adapt_lower_bound)


momo = named_optimizer(_momo)
momo_adam = named_optimizer(_momo_adam)
