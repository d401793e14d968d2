"""More adaptive optimizers with Optax's names and defaults: Yogi, SM3, NovoGrad, Adan,
AdaMaxW, Fromage, noisy SGD."""

from __future__ import annotations

from typing import Any

from gradtx.combinators.combine import chain
from gradtx.core import checks as _checks
from gradtx.core.protocol import GradientTransformation
from gradtx.optimizers.factory import optimizer
from gradtx.primitives.adaptive.novograd import scale_by_novograd
from gradtx.primitives.adaptive.sm3 import scale_by_sm3
from gradtx.primitives.decay.weight_decay import add_decayed_weights
from gradtx.primitives.moments.adam import scale_by_adamax
from gradtx.primitives.moments.adan import scale_by_adan
from gradtx.primitives.moments.yogi import scale_by_yogi
from gradtx.primitives.noise.noise import add_noise
from gradtx.primitives.scaling.param_norm import fromage_step
from gradtx.primitives.scaling.scaling import scale_by_learning_rate
from gradtx.primitives.scaling.trust_ratio import scale_by_trust_ratio

__all__ = ["yogi", "sm3", "novograd", "adan", "adamaxw", "fromage", "noisy_sgd"]


def _yogi(
  learning_rate: Any, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-3, *, state_dtype: Any = None
) -> GradientTransformation:
  r"""Yogi (Zaheer et al., 2018): Adam with an additive second-moment update.

  $$
  v_t = v_{t-1} - (1 - \beta_2)\, \operatorname{sign}(v_{t-1} - g_t^2)\, g_t^2, \qquad
  w_t = w_{t-1} - \eta_t \frac{m_t / (1 - \beta_1^t)}{\sqrt{v_t / (1 - \beta_2^t)}
    + \epsilon},
  $$

  with Adam's first moment $m_t$ and $m_0 = v_0 = 10^{-6}$ (see `scale_by_yogi`).

  Defaults: `b1=0.9`, `b2=0.999`, `eps=1e-3` (Zaheer et al., 2018; Optax's `yogi`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    b1: $\beta_1$, the decay of the first moment.
    b2: $\beta_2$, the rate of the second-moment update.
    eps: $\epsilon$, added to the root.
    state_dtype: dtype of the moments.
  """
  return chain(
    scale_by_yogi(b1, b2, eps, state_dtype=state_dtype), scale_by_learning_rate(learning_rate)
  )


def _sm3(
  learning_rate: Any, momentum: Any = 0.9, *, state_dtype: Any = None
) -> GradientTransformation:
  r"""SM3 (Anil et al., 2019): per-axis accumulators with momentum.

  $$
  w_t = w_{t-1} - \eta_t\, u_t, \qquad
  u_t = \beta_1 u_{t-1} + (1 - \beta_1) \frac{g_t}{\sqrt{\nu_t + \epsilon}},
  $$

  with $\nu_t$ SM3's cover-set estimate of the summed squared gradients and
  $\beta_1$ = `momentum` (see `scale_by_sm3`).

  Defaults: `momentum=0.9` (Optax's `sm3`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    momentum: $\beta_1$.
    state_dtype: dtype of the accumulators and the momentum.
  """
  _checks.decay_rate("sm3", "momentum", momentum)
  return chain(
    scale_by_sm3(momentum, state_dtype=state_dtype), scale_by_learning_rate(learning_rate)
  )


def _novograd(
  learning_rate: Any,
  b1: Any = 0.9,
  b2: Any = 0.25,
  eps: Any = 1e-6,
  eps_root: Any = 0.0,
  weight_decay: Any = 0.0,
  *,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""NovoGrad (Ginsburg et al., 2019): layer-wise second moments.

  $$
  v_t = \beta_2 v_{t-1} + (1 - \beta_2) \|g_t\|^2, \qquad
  m_t = \beta_1 m_{t-1} + \frac{g_t}{\sqrt{v_t + \epsilon_{\mathrm{root}}} + \epsilon}
    + \lambda\, w_{t-1}, \qquad w_t = w_{t-1} - \eta_t\, m_t,
  $$

  per leaf, with $v_1 = \|g_1\|^2$ and $m_0 = 0$ (see `scale_by_novograd`).

  Defaults: `b1=0.9`, `b2=0.25`, `eps=1e-6`, `eps_root=0`, `weight_decay=0` (Optax's
  `novograd`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    b1: $\beta_1$, the decay of the momentum.
    b2: $\beta_2$, the decay of the layer-wise second moment.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added under the root.
    weight_decay: $\lambda$.
    state_dtype: dtype of the momentum.
  """
  return chain(
    scale_by_novograd(b1, b2, eps, eps_root, weight_decay, state_dtype=state_dtype),
    scale_by_learning_rate(learning_rate),
  )


def _adan(
  learning_rate: Any,
  b1: Any = 0.98,
  b2: Any = 0.92,
  b3: Any = 0.99,
  eps: Any = 1e-8,
  eps_root: Any = 1e-8,
  weight_decay: Any = 0.0,
  mask: Any = None,
  *,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""Adan (Xie et al., 2022) with decoupled weight decay (Optax's form).

  $$
  w_t = w_{t-1} - \eta_t \big( u_t + \lambda\, w_{t-1} \big),
  $$

  with Adan's direction $u_t$ (`scale_by_adan`, which follows the paper and the authors'
  code) and $\lambda$ = `weight_decay` (on `mask`).

  Defaults: `b1=0.98`, `b2=0.92`, `b3=0.99`, `eps=1e-8`, `eps_root=1e-8`,
  `weight_decay=0` (Optax's `adan`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    b1: $\beta_1$, the decay of the gradient's moment.
    b2: $\beta_2$, the decay of the difference's moment.
    b3: $\beta_3$, the decay of the second moment.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added under the root.
    weight_decay: $\lambda$, a number or a schedule.
    mask: the leaves decayed; all by default.
    state_dtype: dtype of the moments.
  """
  return chain(
    scale_by_adan(b1, b2, b3, eps, eps_root, state_dtype=state_dtype),
    add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate),
  )


def _adamaxw(
  learning_rate: Any,
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-8,
  weight_decay: Any = 1e-4,
  mask: Any = None,
  *,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""AdaMaxW: AdaMax with decoupled weight decay.

  $$
  w_t = w_{t-1} - \eta_t \left( \frac{m_t}{(1 - \beta_1^t)\, n_t} + \lambda\, w_{t-1}
    \right),
  $$

  with AdaMax's $m_t$ and $n_t = \max(\beta_2 n_{t-1}, |g_t| + \epsilon)$
  (`scale_by_adamax`).

  Defaults: `b1=0.9`, `b2=0.999`, `eps=1e-8`, `weight_decay=1e-4` (Optax's `adamaxw`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    b1: $\beta_1$, the decay of the first moment.
    b2: $\beta_2$, the decay of the infinity norm.
    eps: $\epsilon$, added to $|g_t|$.
    weight_decay: $\lambda$, a number or a schedule.
    mask: the leaves decayed; all by default.
    state_dtype: dtype of the state.
  """
  return chain(
    scale_by_adamax(b1, b2, eps, state_dtype=state_dtype),
    add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate),
  )


def _fromage(learning_rate: Any, min_norm: Any = 1e-6) -> GradientTransformation:
  r"""Fromage (Bernstein et al., 2020).

  $$
  w_t = \frac{1}{\sqrt{1 + \eta_t^2}} \left( w_{t-1} - \eta_t
    \frac{\|w_{t-1}\|}{\|g_t\|}\, g_t \right),
  $$

  per leaf, with both norms floored at `min_norm` (and the ratio 1 where one is 0).

  Defaults: `min_norm=1e-6` (Optax's `fromage`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    min_norm: the floor of both norms.
  """
  return chain(scale_by_trust_ratio(min_norm), fromage_step(learning_rate))


def _noisy_sgd(
  learning_rate: Any,
  eta: Any = 0.01,
  gamma: Any = 0.55,
  key: Any = None,
  *,
  seed: int | None = None,
) -> GradientTransformation:
  r"""Noisy SGD (Neelakantan et al., 2015): SGD on annealed noisy gradients.

  $$
  w_t = w_{t-1} - \eta_t \big( g_t + \sigma_t n_t \big), \qquad
  n_t \sim \mathcal N(0, I), \qquad \sigma_t^2 = \frac{\eta_n}{t^{\gamma}},
  $$

  with $\eta_n$ = `eta` and $t = 1$ on the first step (see `add_noise`).

  Defaults: `eta=0.01`, `gamma=0.55` (Optax's `noisy_sgd`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    eta: $\eta_n$, the initial noise variance.
    gamma: $\gamma$, the annealing exponent.
    key: a PRNG key or an integer seed.
    seed: Optax's deprecated spelling of an integer `key`.
  """
  return chain(add_noise(eta, gamma, key, seed=seed), scale_by_learning_rate(learning_rate))


yogi = optimizer(_yogi)
sm3 = optimizer(_sm3)
novograd = optimizer(_novograd)
adan = optimizer(_adan)
adamaxw = optimizer(_adamaxw)
fromage = optimizer(_fromage)
noisy_sgd = optimizer(_noisy_sgd, static_args=("key", "seed"))
