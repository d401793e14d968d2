"""COCOB-Backprop (Orabona & Tommasi, 2017, Algorithm 2): learning-rate-free coin betting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.combinators.combine import chain
from gradtx.core import checks as _checks
from gradtx.core.named import named_optimizer
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import cast, compute_dtype, full_like, hyper, map_leaves, zeros_like
from gradtx.primitives.decay.weight_decay import add_decayed_weights, require_params
from gradtx.primitives.scaling.scaling import scale_by_learning_rate

__all__ = ["COCOBState", "ScaleByCocob", "scale_by_cocob", "cocob"]


class COCOBState(NamedTuple):
  """Optax's fields: `init_particles` (`w_1`), `cumulative_gradients` (`theta`),
  `scale` (`L`), `subgradients` (`G`), `reward` (`Reward`)."""

  init_particles: Any
  cumulative_gradients: Any
  scale: Any
  subgradients: Any
  reward: Any


class ScaleByCocob(GradientTransformation):
  """COCOB's step; the update rule and defaults are on `scale_by_cocob`."""

  alpha: Any = 100.0
  eps: Any = 1e-8

  def __post_init__(self):
    _checks.positive("scale_by_cocob", "alpha", self.alpha)
    _checks.non_negative("scale_by_cocob", "eps", self.eps)

  def init(self, params):
    zeros = lambda: zeros_like(params)
    return COCOBState(
      jax.tree.map(lambda p: jnp.array(p, copy=True), params),
      zeros(),
      full_like(params, self.eps),
      zeros(),
      zeros(),
    )

  def update(self, updates, state, params=None, **extra_args):
    del extra_args
    require_params("scale_by_cocob", params, updates)

    def leaf(g, p, p0, theta, L, G, R):
      cdt = compute_dtype(g.dtype)
      gc, pc, p0c = g.astype(cdt), p.astype(cdt), p0.astype(cdt)
      L_new = jnp.maximum(L.astype(cdt), jnp.abs(gc))
      G_new = G.astype(cdt) + jnp.abs(gc)
      R_new = jnp.maximum(R.astype(cdt) - gc * (pc - p0c), 0)
      theta_new = theta.astype(cdt) - gc
      bet = theta_new / (L_new * jnp.maximum(G_new + L_new, hyper(self.alpha, cdt) * L_new))
      u = p0c + bet * (L_new + R_new) - pc
      return (
        cast(u, g.dtype),
        cast(theta_new, theta.dtype),
        cast(L_new, L.dtype),
        cast(G_new, G.dtype),
        cast(R_new, R.dtype),
      )

    u, theta, L, G, R = map_leaves(
      leaf,
      updates,
      params,
      state.init_particles,
      state.cumulative_gradients,
      state.scale,
      state.subgradients,
      state.reward,
      n_out=5,
    )
    return u, COCOBState(state.init_particles, theta, L, G, R)


def scale_by_cocob(alpha: Any = 100.0, eps: Any = 1e-8) -> ScaleByCocob:
  r"""COCOB-Backprop's step (Orabona & Tommasi, 2017), per coordinate.

  With $g$ the (sub)gradient, $w_1$ the params given to `init` and
  $\theta_0 = G_0 = R_0 = 0$:

  $$
  \begin{aligned}
  L_t &= \max(L_{t-1}, |g_t|), \qquad G_t = G_{t-1} + |g_t|, \qquad
  R_t = \max\big(R_{t-1} - g_t (w_{t-1} - w_1), 0\big), \qquad
  \theta_t = \theta_{t-1} - g_t, \\
  w_t &= w_1 + \frac{\theta_t}{L_t \max(G_t + L_t, \alpha L_t)} (L_t + R_t), \qquad
  u_t = w_t - w_{t-1},
  \end{aligned}
  $$

  with $L_0 = \epsilon$ (Optax's jitter; the paper starts at 0 and divides by it only
  after the first gradient).

  Defaults: `alpha=100` (the paper), `eps=1e-8` (Optax's `contrib.scale_by_cocob`).

  Args:
    alpha: $\alpha$, which bounds the early steps.
    eps: $L_0$, the initial scale.

  Returns:
    A `ScaleByCocob` transformation with state `COCOBState`.
  """
  return ScaleByCocob(alpha, eps)


def _cocob(
  learning_rate: Any = 1.0,
  alpha: Any = 100.0,
  eps: Any = 1e-8,
  weight_decay: Any = 0.0,
  mask: Any | Callable[..., Any] | None = None,
) -> GradientTransformation:
  r"""COCOB (Orabona & Tommasi, 2017): `scale_by_cocob` fed the gradient
  $\eta_t (g_t + \lambda w_{t-1})$ (Optax's chain; `learning_rate` only rescales the
  gradient).

  Defaults: `learning_rate=1`, `alpha=100`, `eps=1e-8`, `weight_decay=0` (Optax's
  `contrib.cocob`).

  Args:
    learning_rate: $\eta$, a factor of the gradient (number or schedule).
    alpha: $\alpha$, which bounds the early steps.
    eps: $L_0$, the initial scale.
    weight_decay: $\lambda$.
    mask: the leaves decayed; all by default.
  """
  return chain(
    add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate, flip_sign=False),
    scale_by_cocob(alpha, eps),
  )


cocob = named_optimizer(_cocob)
