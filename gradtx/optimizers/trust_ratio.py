"""Layer-wise trust-ratio optimizers: LAMB and LARS (Optax's names and defaults)."""

from __future__ import annotations

from typing import Any

from gradtx.combinators.combine import chain
from gradtx.core import checks as _checks
from gradtx.core.protocol import GradientTransformation
from gradtx.optimizers.factory import optimizer
from gradtx.primitives.decay.weight_decay import add_decayed_weights
from gradtx.primitives.moments.adam import scale_by_adam
from gradtx.primitives.moments.momentum import trace
from gradtx.primitives.scaling.scaling import scale_by_learning_rate
from gradtx.primitives.scaling.trust_ratio import scale_by_trust_ratio

__all__ = [
  "lamb",
  "lars",
]


def _lamb(
  learning_rate: Any,
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-6,
  eps_root: Any = 0.0,
  weight_decay: Any = 0.0,
  mask: Any = None,
  *,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""LAMB (You et al., 2019): Adam's direction plus weight decay, scaled per leaf by
  the trust ratio.

  $$
  r_t = \frac{\hat m_t}{\sqrt{\hat v_t + \epsilon_{\mathrm{root}}} + \epsilon}
    + \lambda\, w_{t-1}, \qquad
  w_t = w_{t-1} - \eta_t \frac{\|w_{t-1}\|}{\|r_t\|}\, r_t,
  $$

  per leaf, with Adam's bias-corrected moments and the ratio taken as 1 where either norm
  is 0 (see `scale_by_trust_ratio`); the decay applies where `mask` is true.

  Defaults: `b1=0.9`, `b2=0.999`, `eps=1e-6`, `eps_root=0`, `weight_decay=0` (Optax's
  `lamb`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    b1: $\beta_1$, the decay of the first moment.
    b2: $\beta_2$, the decay of the second moment.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added under the root.
    weight_decay: $\lambda$, a number or a schedule.
    mask: the leaves decayed; all by default.
    state_dtype: dtype of the moments.
  """
  return chain(
    scale_by_adam(b1, b2, eps, eps_root, state_dtype=state_dtype),
    add_decayed_weights(weight_decay, mask),
    scale_by_trust_ratio(),
    scale_by_learning_rate(learning_rate),
  )


def _lars(
  learning_rate: Any,
  weight_decay: Any = 0.0,
  weight_decay_mask: Any = True,
  trust_coefficient: Any = 0.001,
  eps: Any = 0.0,
  trust_ratio_mask: Any = True,
  momentum: Any = 0.9,
  nesterov: bool = False,
  *,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""LARS (You et al., 2017): layer-wise trust ratio, then momentum.

  $$
  r_t = g_t + \lambda\, w_{t-1}, \qquad
  r_t \leftarrow \frac{c\, \|w_{t-1}\|}{\|r_t\| + \epsilon}\, r_t, \qquad
  v_t = -\eta_t\, r_t + \mu\, v_{t-1}, \qquad w_t = w_{t-1} + v_t,
  $$

  per leaf, with $c$ = `trust_coefficient` (the ratio on `trust_ratio_mask` only, 1 where a
  norm is 0), $\lambda$ = `weight_decay` (on `weight_decay_mask`) and $\mu$ = `momentum`.

  Defaults: `weight_decay=0`, `trust_coefficient=0.001`, `eps=0`, `momentum=0.9`,
  `nesterov=False` (Optax's `lars`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    weight_decay: $\lambda$ of the coupled decay.
    weight_decay_mask: the leaves decayed (`True`: all).
    trust_coefficient: $c$.
    eps: $\epsilon$, added to $\|r_t\|$.
    trust_ratio_mask: the leaves scaled by the trust ratio (`True`: all).
    momentum: $\mu$.
    nesterov: Nesterov form of the momentum.
    state_dtype: dtype of the velocity.
  """
  _checks.decay_rate("lars", "momentum", momentum)
  return chain(
    add_decayed_weights(weight_decay, weight_decay_mask),
    scale_by_trust_ratio(trust_coefficient=trust_coefficient, eps=eps, mask=trust_ratio_mask),
    scale_by_learning_rate(learning_rate),
    trace(momentum, nesterov, state_dtype=state_dtype),
  )


lamb = optimizer(_lamb)
lars = optimizer(_lars)
