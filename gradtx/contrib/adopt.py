"""ADOPT (Taniguchi et al., 2024) as the authors' iShohei220/adopt implements it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

from gradtx.combinators.combine import chain
from gradtx.core.module import static
from gradtx.core.named import named_optimizer
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import (
  abs_sq,
  cast,
  complement,
  compute_dtype,
  hyper,
  map_leaves,
  pick_dtype,
  real_dtype,
  safe_increment,
  scalar_dtype,
  zero_count,
  zeros_like,
)
from gradtx.primitives.moments.adam import ScaleByAdamState, check_betas
from gradtx.primitives.scaling.scaling import scale_by_learning_rate

__all__ = ["ScaleByAdopt", "scale_by_adopt", "adopt"]


def _quarter_power(step: Any) -> Any:
  """The reference's default clipping schedule `step^(1/4)`."""
  return step**0.25


class ScaleByAdopt(GradientTransformation):
  """ADOPT's scaling; the update rule and defaults are on `scale_by_adopt`."""

  b1: Any = 0.9
  b2: Any = 0.9999
  eps: Any = 1e-6
  mu_dtype: Any = static(default=None)
  nesterov: bool = static(default=False)
  use_clipping: bool = static(default=True)
  clip_value_fn: Callable[[Any], Any] = static(default=_quarter_power)
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    check_betas("scale_by_adopt", self.b1, self.b2, self.eps)

  def init(self, params):
    return ScaleByAdamState(
      zero_count(),
      zeros_like(params, pick_dtype(self.mu_dtype, self.state_dtype)),
      zeros_like(params, self.state_dtype, real=True),
    )

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    first = state.count == 0
    b1 = jnp.where(first, 1.0, jnp.asarray(self.b1, scalar_dtype()))
    b2 = jnp.where(first, 0.0, jnp.asarray(self.b2, scalar_dtype()))
    step = safe_increment(state.count).astype(scalar_dtype())
    clip = jnp.where(first, 0.0, self.clip_value_fn(step)) if self.use_clipping else None

    def leaf(g, m, v):
      cdt = compute_dtype(g.dtype)
      gc, vc = g.astype(cdt), v.astype(real_dtype(cdt))
      n = gc / jnp.maximum(jnp.sqrt(vc), hyper(self.eps, cdt))
      if clip is not None:
        n = jnp.clip(n, -hyper(clip, cdt), hyper(clip, cdt))
      b1c, w1 = hyper(b1, cdt), complement(b1, cdt)
      m_new = b1c * m.astype(cdt) + w1 * n
      u = b1c * m_new + w1 * n if self.nesterov else m_new
      v_new = hyper(b2, cdt) * vc + complement(b2, cdt) * abs_sq(gc)
      return cast(u, g.dtype), cast(m_new, m.dtype), cast(v_new, v.dtype)

    u, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, n_out=3)
    return u, ScaleByAdamState(safe_increment(state.count), mu, nu)


def scale_by_adopt(
  b1: Any = 0.9,
  b2: Any = 0.9999,
  eps: Any = 1e-6,
  mu_dtype: Any = None,
  *,
  nesterov: bool = False,
  use_clipping: bool = True,
  clip_value_fn: Callable[[Any], Any] = _quarter_power,
  state_dtype: Any = None,
) -> ScaleByAdopt:
  r"""ADOPT's scaling (Taniguchi et al., 2024): normalise by the second moment *before*
  this gradient, then average.

  Step 1 only sets $v_1 = g_1^2$ (the update is 0). From step $t \ge 2$:

  $$
  n_t = \operatorname{clip}\Big( \frac{g_t}{\max(\sqrt{v_{t-1}}, \epsilon)}, c(t) \Big),
  \qquad m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, n_t, \qquad u_t = m_t, \qquad
  v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2,
  $$

  with $\operatorname{clip}(x, c) = \min(\max(x, -c), c)$, $c$ = `clip_value_fn` ($t$
  counts steps from 1, as the reference's `clip_lambda(step)`; Optax evaluates it at
  $t - 1$, docs/differences.md), no clipping with `use_clipping=False`, and with
  `nesterov=True` $u_t = \beta_1 m_t + (1 - \beta_1)\, n_t$.

  Defaults: `b1=0.9`, `b2=0.9999`, `eps=1e-6`, $c(t) = t^{1/4}$ (the reference code and
  Optax's `contrib.scale_by_adopt`).

  Args:
    b1: $\beta_1$, the decay of $m$.
    b2: $\beta_2$, the decay of $v$.
    eps: $\epsilon$, the floor of $\sqrt{v}$.
    mu_dtype: dtype of $m$.
    nesterov: Nesterov's form of the output.
    use_clipping: clip the normalized gradient.
    clip_value_fn: $c$, the clipping bound as a function of the step.
    state_dtype: dtype of the state.

  Returns:
    A `ScaleByAdopt` transformation with state `ScaleByAdamState`.
  """
  return ScaleByAdopt(b1, b2, eps, mu_dtype, nesterov, use_clipping, clip_value_fn, state_dtype)


def _adopt(
  learning_rate: Any,
  b1: Any = 0.9,
  b2: Any = 0.9999,
  eps: Any = 1e-6,
  mu_dtype: Any = None,
  *,
  nesterov: bool = False,
  use_clipping: bool = True,
  clip_value_fn: Callable[[Any], Any] = _quarter_power,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""ADOPT (Taniguchi et al., 2024): $w_t = w_{t-1} - \eta_t u_t$ with ADOPT's direction
  $u_t$ (`scale_by_adopt`).

  Defaults: `b1=0.9`, `b2=0.9999`, `eps=1e-6`, clipping $c(t) = t^{1/4}$ (the reference
  code and Optax's `contrib.adopt`).

  Args:
    learning_rate: $\eta$, a number or a schedule.
    b1: $\beta_1$, the decay of $m$.
    b2: $\beta_2$, the decay of $v$.
    eps: $\epsilon$, the floor of $\sqrt{v}$.
    mu_dtype: dtype of $m$.
    nesterov: Nesterov's form of the output.
    use_clipping: clip the normalized gradient.
    clip_value_fn: $c$, the clipping bound as a function of the step.
    state_dtype: dtype of the state.
  """
  return chain(
    scale_by_adopt(
      b1,
      b2,
      eps,
      mu_dtype,
      nesterov=nesterov,
      use_clipping=use_clipping,
      clip_value_fn=clip_value_fn,
      state_dtype=state_dtype,
    ),
    scale_by_learning_rate(learning_rate),
  )


adopt = named_optimizer(_adopt, static_args=("clip_value_fn", "nesterov", "use_clipping"))
