"""Sign-based optimizers: signSGD, signum, Rprop, Lion (Optax's names and defaults)."""

from __future__ import annotations

from typing import Any

from gradtx.combinators.combine import chain
from gradtx.core import checks as _checks
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import pick_dtype
from gradtx.optimizers.factory import optimizer
from gradtx.primitives.adaptive.resilient import scale_by_rprop
from gradtx.primitives.decay.weight_decay import add_decayed_weights
from gradtx.primitives.moments.lion import scale_by_lion
from gradtx.primitives.moments.momentum import ema
from gradtx.primitives.moments.sign import scale_by_sign
from gradtx.primitives.scaling.scaling import scale, scale_by_learning_rate

__all__ = ["sign_sgd", "signum", "rprop", "lion"]


def _sign_sgd(learning_rate: Any) -> GradientTransformation:
  r"""signSGD (Bernstein et al., 2018): $w_t = w_{t-1} - \eta_t \operatorname{sign}(g_t)$.

  Defaults: none (`learning_rate` is required).
  """
  return chain(scale_by_sign(), scale_by_learning_rate(learning_rate))


def _signum(
  learning_rate: Any, beta: Any = 0.9, accumulator_dtype: Any = None, *, state_dtype: Any = None
) -> GradientTransformation:
  r"""Signum (Bernstein et al., 2018): the sign of the momentum.

  $$
  m_t = \beta\, m_{t-1} + (1 - \beta)\, g_t, \qquad
  w_t = w_{t-1} - \eta_t \operatorname{sign}(m_t),
  $$

  with $m_0 = 0$ (no debiasing: it does not change the sign).

  Defaults: `beta=0.9` (Optax's `signum`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    beta: $\beta$, the decay of the momentum.
    accumulator_dtype: Optax's name for `state_dtype`.
    state_dtype: dtype of $m$.
  """
  _checks.decay_rate("signum", "beta", beta)
  return chain(
    ema(beta, debias=False, state_dtype=pick_dtype(state_dtype, accumulator_dtype)),
    scale_by_sign(),
    scale_by_learning_rate(learning_rate),
  )


def _rprop(
  learning_rate: Any,
  eta_minus: Any = 0.5,
  eta_plus: Any = 1.2,
  min_step_size: Any = 1e-6,
  max_step_size: Any = 50.0,
  *,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""Rprop (Riedmiller & Braun, 1993; `torch.optim.Rprop`).

  $$
  w_t = w_{t-1} - \Delta_t \operatorname{sign}(g_t),
  $$

  with per-coordinate steps $\Delta_t$ ($\Delta_0$ = `learning_rate`) grown by
  `eta_plus` while the gradient keeps its sign and shrunk by `eta_minus` (and the step
  skipped) when it flips, clipped to `[min_step_size, max_step_size]` (see
  `scale_by_rprop`).

  Defaults: `eta_minus=0.5`, `eta_plus=1.2`, `min_step_size=1e-6`, `max_step_size=50`
  (Optax's `rprop` and PyTorch's `Rprop`).

  Args:
    learning_rate: $\Delta_0$, the initial step of every coordinate.
    eta_minus: the factor a step shrinks by when the gradient's sign flips.
    eta_plus: the factor a step grows by while the sign is kept.
    min_step_size: the smallest step.
    max_step_size: the largest step.
    state_dtype: dtype of the steps.
  """
  return chain(
    scale_by_rprop(
      learning_rate, eta_minus, eta_plus, min_step_size, max_step_size, state_dtype=state_dtype
    ),
    scale(-1.0),
  )


def _lion(
  learning_rate: Any,
  b1: Any = 0.9,
  b2: Any = 0.99,
  mu_dtype: Any = None,
  weight_decay: Any = 1e-3,
  mask: Any = None,
  *,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""Lion (Chen et al., 2023), with decoupled weight decay.

  $$
  w_t = w_{t-1} - \eta_t \big( \operatorname{sign}(\beta_1 m_{t-1} + (1 - \beta_1) g_t)
    + \lambda\, w_{t-1} \big), \qquad
  m_t = \beta_2 m_{t-1} + (1 - \beta_2)\, g_t.
  $$

  Defaults: `b1=0.9`, `b2=0.99` (Chen et al., 2023), `weight_decay=1e-3` (Optax's
  `lion`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    b1: $\beta_1$, the interpolation taken the sign of.
    b2: $\beta_2$, the decay of the momentum.
    mu_dtype: dtype of $m$ (Optax's name).
    weight_decay: $\lambda$, a number or a schedule.
    mask: the leaves decayed; all by default.
    state_dtype: dtype of $m$.
  """
  return chain(
    scale_by_lion(b1, b2, mu_dtype, state_dtype=state_dtype),
    add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate),
  )


sign_sgd = optimizer(_sign_sgd)
signum = optimizer(_signum)
rprop = optimizer(_rprop)
lion = optimizer(_lion)
