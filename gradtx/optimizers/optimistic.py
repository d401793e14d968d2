"""Optimistic optimizers for min-max games: OGD and optimistic Adam."""

from __future__ import annotations

import warnings
from typing import Any

from gradtx.combinators.combine import chain
from gradtx.core.protocol import GradientTransformation
from gradtx.optimizers.factory import optimizer
from gradtx.primitives.moments.adam import scale_by_adam
from gradtx.primitives.moments.optimistic import scale_by_optimistic_gradient
from gradtx.primitives.scaling.scaling import scale_by_learning_rate

__all__ = ["optimistic_gradient_descent", "optimistic_adam", "optimistic_adam_v2"]


def _optimistic_gradient_descent(
  learning_rate: Any, alpha: Any = 1.0, beta: Any = 1.0, *, state_dtype: Any = None
) -> GradientTransformation:
  r"""Optimistic gradient descent (Mokhtari et al., 2019).

  $$
  w_t = w_{t-1} - \eta_t \big( (\alpha + \beta)\, g_t - \beta\, g_{t-1} \big),
  $$

  with $g_0 = g_1$ (see `scale_by_optimistic_gradient`).

  Defaults: `alpha=1`, `beta=1` (Optax's `optimistic_gradient_descent`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    alpha: $\alpha$, the weight of the current gradient.
    beta: $\beta$, the weight of the optimism (the gradient's change).
    state_dtype: dtype of the stored previous gradient.
  """
  return chain(
    scale_by_optimistic_gradient(alpha, beta, state_dtype=state_dtype),
    scale_by_learning_rate(learning_rate),
  )


def _optimistic_adam(
  learning_rate: Any,
  optimism: Any = None,
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-8,
  eps_root: Any = 0.0,
  mu_dtype: Any = None,
  *,
  nesterov: bool = True,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""Optimistic Adam (Daskalakis et al., 2018), Optax's deprecated form.

  $$
  w_t = w_{t-1} - \big( (\eta + o)\, a_t - o\, a_{t-1} \big),
  $$

  with $a_t$ Adam's direction (NAdam's by default, `nesterov=True`), $a_0 = a_1$, and
  $o$ = `optimism`, defaulting to $\eta$ = `learning_rate` (a number only, no schedule).

  Defaults: `optimism=None` (the learning rate), `b1=0.9`, `b2=0.999`, `eps=1e-8`,
  `eps_root=0`, `nesterov=True` (Optax's `optimistic_adam`).

  Args:
    learning_rate: $\eta$, a number (no schedule).
    optimism: $o$, or `None` for $\eta$.
    b1: $\beta_1$, the decay of Adam's first moment.
    b2: $\beta_2$, the decay of Adam's second moment.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added under the root.
    mu_dtype: dtype of Adam's $m$ (Optax's name).
    nesterov: NAdam's look-ahead first moment.
    state_dtype: dtype of the state.
  """
  warnings.warn(
    "`optimistic_adam` is deprecated, please use `optimistic_adam_v2` instead.",
    DeprecationWarning,
    stacklevel=3,
  )
  if callable(learning_rate):
    raise ValueError(
      "optimistic_adam: learning_rate must be a number (this version does not "
      "take schedules; optimistic_adam_v2 does)."
    )
  return chain(
    scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, state_dtype=state_dtype),
    scale_by_optimistic_gradient(
      learning_rate, learning_rate if optimism is None else optimism, state_dtype=state_dtype
    ),
    scale_by_learning_rate(1.0),
  )


def _optimistic_adam_v2(
  learning_rate: Any,
  *,
  alpha: Any = 1.0,
  beta: Any = 1.0,
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-8,
  eps_root: Any = 0.0,
  mu_dtype: Any = None,
  nesterov: bool = True,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""Optimistic Adam (Daskalakis et al., 2018).

  $$
  w_t = w_{t-1} - \eta_t \big( (\alpha + \beta)\, a_t - \beta\, a_{t-1} \big),
  $$

  with $a_t$ Adam's direction (NAdam's by default, `nesterov=True`) and $a_0 = a_1$.

  Defaults: `alpha=1`, `beta=1`, `b1=0.9`, `b2=0.999`, `eps=1e-8`, `eps_root=0`,
  `nesterov=True` (Optax's `optimistic_adam_v2`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    alpha: $\alpha$, the weight of the current direction.
    beta: $\beta$, the weight of the optimism.
    b1: $\beta_1$, the decay of Adam's first moment.
    b2: $\beta_2$, the decay of Adam's second moment.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added under the root.
    mu_dtype: dtype of Adam's $m$ (Optax's name).
    nesterov: NAdam's look-ahead first moment.
    state_dtype: dtype of the state.
  """
  return chain(
    scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, state_dtype=state_dtype),
    scale_by_optimistic_gradient(alpha, beta, state_dtype=state_dtype),
    scale_by_learning_rate(learning_rate),
  )


optimistic_gradient_descent = optimizer(_optimistic_gradient_descent)
optimistic_adam = optimizer(_optimistic_adam)
optimistic_adam_v2 = optimizer(_optimistic_adam_v2)
