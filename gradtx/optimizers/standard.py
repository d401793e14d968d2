"""Named optimizers: short chains of the primitives, with Optax's names and defaults.

Each public factory returns a `NamedOptimizer` (gradtx/named.py): the chain
builder below plus the arguments it was called with, by their names. Moving
code from Optax is a change of import. Every numeric argument is a pytree leaf
of the result (no recompile when it changes, `vmap` sweeps), `learning_rate`
may be a number or a schedule, and `set_hyperparams(tx, momentum=0.5)` works
with the factory's argument names.
"""

from __future__ import annotations

from typing import Any

from gradtx.combinators.combine import chain
from gradtx.core import checks as _checks
from gradtx.core.protocol import GradientTransformation, identity
from gradtx.numerics.ops import pick_dtype
from gradtx.optimizers.factory import optimizer
from gradtx.primitives.adaptive.adadelta import scale_by_adadelta
from gradtx.primitives.adaptive.adagrad import scale_by_rss
from gradtx.primitives.adaptive.factored import (
  clip_by_block_rms,
  scale_by_factored_rms,
  scale_by_param_block_rms,
)
from gradtx.primitives.adaptive.rmsprop import scale_by_rms, scale_by_stddev
from gradtx.primitives.decay.weight_decay import add_decayed_weights
from gradtx.primitives.moments.adam import scale_by_adam, scale_by_adamax, scale_by_amsgrad
from gradtx.primitives.moments.belief import scale_by_belief
from gradtx.primitives.moments.lion import scale_by_lion
from gradtx.primitives.moments.momentum import ema, trace
from gradtx.primitives.moments.radam import scale_by_radam
from gradtx.primitives.scaling.scaling import scale, scale_by_learning_rate
from gradtx.primitives.scaling.trust_ratio import scale_by_trust_ratio

__all__ = [
  "sgd",
  "adagrad",
  "rmsprop",
  "adam",
  "adamw",
  "nadam",
  "nadamw",
  "amsgrad",
  "adamax",
  "radam",
  "adabelief",
  "adadelta",
  "lion",
  "lamb",
  "lars",
  "adafactor",
]


def _sgd(
  learning_rate: Any,
  momentum: Any = None,
  nesterov: bool = False,
  accumulator_dtype: Any = None,
  *,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""Stochastic gradient descent, with optional heavy-ball or Nesterov momentum.

  $$
  v_t = g_t + \mu\, v_{t-1}, \qquad w_t = w_{t-1} - \eta_t\, v_t,
  $$

  with $v_0 = 0$, $\eta_t$ = `learning_rate` (a number, or a schedule evaluated at the
  count of updates done before this one, $t - 1$) and $\mu$ = `momentum`; with `nesterov=True`, $w_t = w_{t-1} - \eta_t (g_t + \mu v_t)$;
  without momentum (`momentum=None`), $w_t = w_{t-1} - \eta_t\, g_t$.

  Defaults: `momentum=None`, `nesterov=False` (Optax's `sgd`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    momentum: $\mu$ in [0, 1), or `None` for plain SGD.
    nesterov: use Nesterov's look-ahead form.
    accumulator_dtype: Optax's name for `state_dtype`.
    state_dtype: dtype of the velocity $v$ (default: the params', at least float32).

  Returns:
    The chain `trace(momentum, nesterov)`, `scale_by_learning_rate(learning_rate)`.
  """
  _checks.unit_interval("sgd", "momentum", momentum)  # as trace: 1 accepted, as in Optax
  dtype = pick_dtype(state_dtype, accumulator_dtype)
  momentum_tx = trace(momentum, nesterov, state_dtype=dtype) if momentum is not None else identity()
  return chain(momentum_tx, scale_by_learning_rate(learning_rate))


def _adagrad(
  learning_rate: Any,
  initial_accumulator_value: Any = 0.1,
  eps: Any = 1e-7,
  *,
  eps_in_sqrt: bool = True,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""AdaGrad (Duchi et al., 2011).

  $$
  G_t = G_{t-1} + |g_t|^2, \qquad w_t = w_{t-1} - \eta_t \frac{g_t}{\sqrt{G_t + \epsilon}},
  $$

  with $G_0$ = `initial_accumulator_value`; with `eps_in_sqrt=False`, the denominator is
  $\sqrt{G_t} + \epsilon$ (see `scale_by_rss`).

  Defaults: `initial_accumulator_value=0.1`, `eps=1e-7`, `eps_in_sqrt=True` (Optax's
  `adagrad`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    initial_accumulator_value: $G_0$.
    eps: $\epsilon$.
    eps_in_sqrt: put $\epsilon$ under the root (else added to it).
    state_dtype: dtype of $G$.
  """
  return chain(
    scale_by_rss(initial_accumulator_value, eps, eps_in_sqrt=eps_in_sqrt, state_dtype=state_dtype),
    scale_by_learning_rate(learning_rate),
  )


def _rmsprop(
  learning_rate: Any,
  decay: Any = 0.9,
  eps: Any = 1e-8,
  initial_scale: Any = 0.0,
  eps_in_sqrt: bool = True,
  centered: bool = False,
  momentum: Any = None,
  nesterov: bool = False,
  bias_correction: bool = False,
  *,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""RMSProp (Tieleman & Hinton, 2012), optionally centered (Graves, 2013).

  $$
  S_t = \rho\, S_{t-1} + (1 - \rho)\, |g_t|^2, \qquad
  w_t = w_{t-1} - \eta_t \frac{g_t}{\sqrt{S_t + \epsilon}},
  $$

  with $\rho$ = `decay` and $S_0$ = `initial_scale`. `eps_in_sqrt=False` divides by
  $\sqrt{S_t} + \epsilon$; `centered=True` replaces $S_t$ by $S_t - |M_t|^2$,
  $M_t = \rho M_{t-1} + (1 - \rho) g_t$; `bias_correction=True` uses
  $S_t / (1 - \rho^t)$. With `momentum` $\mu$, the scaled step goes through `trace`
  after the learning rate (Optax's order): $v_t = -\eta_t g_t / \sqrt{S_t + \epsilon}
  + \mu v_{t-1}$, $w_t = w_{t-1} + v_t$.

  Defaults: `decay=0.9`, `eps=1e-8`, `initial_scale=0`, `eps_in_sqrt=True`,
  `centered=False`, `momentum=None`, `bias_correction=False` (Optax's `rmsprop`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    decay: $\rho$, the decay of the moving averages.
    eps: $\epsilon$.
    initial_scale: $S_0$.
    eps_in_sqrt: put $\epsilon$ under the root (else added to it).
    centered: subtract the squared moving mean (Graves, 2013).
    momentum: $\mu$ of the momentum after the learning rate, or `None`.
    nesterov: Nesterov form of that momentum.
    bias_correction: divide the averages by $1 - \rho^t$.
    state_dtype: dtype of the state.
  """
  _checks.decay_rate("rmsprop", "momentum", momentum)
  scaler = scale_by_stddev if centered else scale_by_rms
  return chain(
    scaler(decay, eps, initial_scale, eps_in_sqrt, bias_correction, state_dtype=state_dtype),
    scale_by_learning_rate(learning_rate),
    trace(momentum, nesterov, state_dtype=state_dtype) if momentum is not None else identity(),
  )


def _adam(
  learning_rate: Any,
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-8,
  eps_root: Any = 0.0,
  mu_dtype: Any = None,
  *,
  nesterov: bool = False,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""Adam (Kingma & Ba, 2014) with bias correction.

  $$
  \begin{aligned}
  m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
  v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, |g_t|^2, \\
  w_t &= w_{t-1} - \eta_t \frac{m_t / (1 - \beta_1^t)}
    {\sqrt{v_t / (1 - \beta_2^t) + \epsilon_{\mathrm{root}}} + \epsilon}
  \end{aligned}
  $$

  (`scale_by_adam`, then the learning rate; `nesterov=True` is NAdam's first moment).

  Defaults: `b1=0.9`, `b2=0.999`, `eps=1e-8` (Kingma & Ba, 2014, Algorithm 1),
  `eps_root=0` (Optax's `adam`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    b1: $\beta_1$, the decay of the first moment.
    b2: $\beta_2$, the decay of the second moment.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added under the root.
    mu_dtype: dtype of $m$ (Optax's name).
    nesterov: NAdam's look-ahead first moment.
    state_dtype: dtype of both moments.
  """
  return chain(
    scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, state_dtype=state_dtype),
    scale_by_learning_rate(learning_rate),
  )


def _adamw(
  learning_rate: Any,
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-8,
  eps_root: Any = 0.0,
  mu_dtype: Any = None,
  weight_decay: Any = 1e-4,
  mask: Any = None,
  *,
  nesterov: bool = False,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, 2019).

  $$
  w_t = w_{t-1} - \eta_t \left( \frac{\hat m_t}{\sqrt{\hat v_t + \epsilon_{\mathrm{root}}}
    + \epsilon} + \lambda\, w_{t-1} \right),
  $$

  with Adam's bias-corrected moments $\hat m_t$, $\hat v_t$ (see `adam`) and
  $\lambda$ = `weight_decay`, applied where `mask` is true.

  Defaults: `b1=0.9`, `b2=0.999`, `eps=1e-8`, `eps_root=0`, `weight_decay=1e-4`
  (Optax's `adamw`; PyTorch's `AdamW` defaults to `weight_decay=1e-2`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    b1: $\beta_1$, the decay of the first moment.
    b2: $\beta_2$, the decay of the second moment.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added under the root.
    mu_dtype: dtype of $m$ (Optax's name).
    weight_decay: $\lambda$, a number or a schedule.
    mask: the leaves decayed (a tree of bools, a prefix of it, or a function of the
      params); all by default.
    nesterov: NAdam's look-ahead first moment.
    state_dtype: dtype of both moments.
  """
  return chain(
    scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, state_dtype=state_dtype),
    add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate),
  )


def _nadam(
  learning_rate: Any,
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-8,
  eps_root: Any = 0.0,
  mu_dtype: Any = None,
  *,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""NAdam (Dozat, 2016): Adam with Nesterov momentum, `adam(..., nesterov=True)`.

  $$
  w_t = w_{t-1} - \eta_t \frac{\beta_1 m_t / (1 - \beta_1^{t+1})
    + (1 - \beta_1)\, g_t / (1 - \beta_1^t)}
    {\sqrt{v_t / (1 - \beta_2^t) + \epsilon_{\mathrm{root}}} + \epsilon},
  $$

  with Adam's moments $m_t$, $v_t$ (Optax's form, without Dozat's momentum schedule;
  for that see `scale_by_nadam`).

  Defaults: `b1=0.9`, `b2=0.999`, `eps=1e-8`, `eps_root=0` (Optax's `nadam`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    b1: $\beta_1$, the decay of the first moment.
    b2: $\beta_2$, the decay of the second moment.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added under the root.
    mu_dtype: dtype of $m$ (Optax's name).
    state_dtype: dtype of both moments.
  """
  return _adam(
    learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov=True, state_dtype=state_dtype
  )


def _nadamw(
  learning_rate: Any,
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-8,
  eps_root: Any = 0.0,
  mu_dtype: Any = None,
  weight_decay: Any = 1e-4,
  mask: Any = None,
  *,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""NAdamW: AdamW with Nesterov momentum, `adamw(..., nesterov=True)`.

  $$
  w_t = w_{t-1} - \eta_t \left( \frac{\beta_1 m_t / (1 - \beta_1^{t+1})
    + (1 - \beta_1)\, g_t / (1 - \beta_1^t)}
    {\sqrt{v_t / (1 - \beta_2^t) + \epsilon_{\mathrm{root}}} + \epsilon}
    + \lambda\, w_{t-1} \right).
  $$

  Defaults: `b1=0.9`, `b2=0.999`, `eps=1e-8`, `eps_root=0`, `weight_decay=1e-4` (Optax's
  `nadamw`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    b1: $\beta_1$, the decay of the first moment.
    b2: $\beta_2$, the decay of the second moment.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added under the root.
    mu_dtype: dtype of $m$ (Optax's name).
    weight_decay: $\lambda$, a number or a schedule.
    mask: the leaves decayed; all by default.
    state_dtype: dtype of both moments.
  """
  return _adamw(
    learning_rate,
    b1,
    b2,
    eps,
    eps_root,
    mu_dtype,
    weight_decay,
    mask,
    nesterov=True,
    state_dtype=state_dtype,
  )


def _amsgrad(
  learning_rate: Any,
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-8,
  eps_root: Any = 0.0,
  mu_dtype: Any = None,
  *,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""AMSGrad (Reddi et al., 2018): Adam with a non-increasing step.

  $$
  \hat v^{\max}_t = \max(\hat v^{\max}_{t-1}, \hat v_t), \qquad
  w_t = w_{t-1} - \eta_t \frac{\hat m_t}{\sqrt{\hat v^{\max}_t + \epsilon_{\mathrm{root}}}
    + \epsilon},
  $$

  with Adam's bias-corrected moments $\hat m_t$, $\hat v_t$ (see `scale_by_amsgrad`).

  Defaults: `b1=0.9`, `b2=0.999`, `eps=1e-8`, `eps_root=0` (Optax's `amsgrad`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    b1: $\beta_1$, the decay of the first moment.
    b2: $\beta_2$, the decay of the second moment.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added under the root.
    mu_dtype: dtype of $m$ (Optax's name).
    state_dtype: dtype of the moments.
  """
  return chain(
    scale_by_amsgrad(b1, b2, eps, eps_root, mu_dtype, state_dtype=state_dtype),
    scale_by_learning_rate(learning_rate),
  )


def _adamax(
  learning_rate: Any, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8, *, state_dtype: Any = None
) -> GradientTransformation:
  r"""AdaMax (Kingma & Ba, 2014, section 7): Adam with the infinity norm.

  $$
  m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
  n_t = \max(\beta_2 n_{t-1}, |g_t| + \epsilon), \qquad
  w_t = w_{t-1} - \eta_t \frac{m_t}{(1 - \beta_1^t)\, n_t}.
  $$

  Defaults: `b1=0.9`, `b2=0.999` (Kingma & Ba, 2014), `eps=1e-8` (Optax's `adamax`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    b1: $\beta_1$, the decay of the first moment.
    b2: $\beta_2$, the decay of the infinity norm.
    eps: $\epsilon$, added to $|g_t|$.
    state_dtype: dtype of the state.
  """
  return chain(
    scale_by_adamax(b1, b2, eps, state_dtype=state_dtype), scale_by_learning_rate(learning_rate)
  )


def _radam(
  learning_rate: Any,
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-8,
  eps_root: Any = 0.0,
  threshold: Any = 5.0,
  *,
  nesterov: bool = False,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""RAdam (Liu et al., 2019): Adam's step times the rectification $r_t$ once
  $\rho_t \ge$ `threshold`, plain bias-corrected momentum before.

  $$
  w_t = w_{t-1} - \eta_t\, u_t, \qquad u_t = \begin{cases}
    r_t\, \hat m_t / \big(\sqrt{\hat v_t + \epsilon_{\mathrm{root}}} + \epsilon\big)
      & \rho_t \ge \text{threshold}, \\
    \hat m_t & \text{otherwise},
  \end{cases}
  $$

  with $\rho_t$ and $r_t$ as in `scale_by_radam`.

  Defaults: `b1=0.9`, `b2=0.999`, `eps=1e-8`, `eps_root=0`, `threshold=5` (Optax's
  `radam`; the paper's threshold is 4).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    b1: $\beta_1$, the decay of the first moment.
    b2: $\beta_2$, the decay of the second moment.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added under the root.
    threshold: the smallest $\rho_t$ at which the adaptive step is used.
    nesterov: NAdam's look-ahead first moment.
    state_dtype: dtype of the moments.
  """
  return chain(
    scale_by_radam(b1, b2, eps, eps_root, threshold, nesterov=nesterov, state_dtype=state_dtype),
    scale_by_learning_rate(learning_rate),
  )


def _adabelief(
  learning_rate: Any,
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-16,
  eps_root: Any = 1e-16,
  *,
  nesterov: bool = False,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""AdaBelief (Zhuang et al., 2020): Adam whose second moment is the belief $s_t$.

  $$
  s_t = \beta_2 s_{t-1} + (1 - \beta_2)\, |g_t - m_t|^2 + \epsilon_{\mathrm{root}}, \qquad
  w_t = w_{t-1} - \eta_t \frac{m_t / (1 - \beta_1^t)}{\sqrt{s_t / (1 - \beta_2^t)}
    + \epsilon},
  $$

  with Adam's first moment $m_t$ (see `scale_by_belief`).

  Defaults: `b1=0.9`, `b2=0.999`, `eps=1e-16`, `eps_root=1e-16` (Optax's `adabelief`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    b1: $\beta_1$, the decay of the first moment.
    b2: $\beta_2$, the decay of the belief $s$.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added to the stored $s_t$.
    nesterov: NAdam's look-ahead first moment.
    state_dtype: dtype of the moments.
  """
  return chain(
    scale_by_belief(b1, b2, eps, eps_root, nesterov=nesterov, state_dtype=state_dtype),
    scale_by_learning_rate(learning_rate),
  )


def _adadelta(
  learning_rate: Any = None,
  rho: Any = 0.9,
  eps: Any = 1e-6,
  weight_decay: Any = 0.0,
  weight_decay_mask: Any = None,
  *,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""Adadelta (Zeiler, 2012), with optional coupled weight decay.

  $$
  \tilde g_t = g_t + \lambda w_{t-1}, \qquad
  u_t = \frac{\sqrt{E[u^2]_{t-1} + \epsilon}}{\sqrt{E[\tilde g^2]_t + \epsilon}}\, \tilde g_t,
  \qquad w_t = w_{t-1} - \eta_t\, u_t,
  $$

  with the moving averages of `scale_by_adadelta` (rate $\rho$) and $\lambda$ =
  `weight_decay`. `learning_rate=None` is the paper's unit step, $\eta = 1$ (Optax's
  `None` skips the scaling and so also its sign: it ascends).

  Defaults: `rho=0.9`, `eps=1e-6`, `weight_decay=0` (Optax's `adadelta`; the paper's
  $\rho = 0.95$).

  Args:
    learning_rate: $\eta$, a number or a schedule; `None` is the paper's $\eta = 1$.
    rho: $\rho$, the decay of both moving averages.
    eps: $\epsilon$.
    weight_decay: $\lambda$ of the coupled (L2) decay.
    weight_decay_mask: the leaves decayed; all by default.
    state_dtype: dtype of the averages.
  """
  return chain(
    add_decayed_weights(weight_decay, weight_decay_mask),
    scale_by_adadelta(rho, eps, state_dtype=state_dtype),
    scale_by_learning_rate(1.0 if learning_rate is None else learning_rate),
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


def _adafactor(
  learning_rate: Any = None,
  min_dim_size_to_factor: int = 128,
  decay_rate: Any = 0.8,
  decay_offset: Any = 0,
  multiply_by_parameter_scale: bool = True,
  clipping_threshold: Any = 1.0,
  momentum: Any = None,
  dtype_momentum: Any = None,
  weight_decay_rate: Any = None,
  eps: Any = 1e-30,
  factored: bool = True,
  weight_decay_mask: Any = None,
  *,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""Adafactor (Shazeer & Stern, 2018).

  With $\hat V_t$ the factored second-moment estimate of `scale_by_factored_rms`
  (decay $\beta_t = 1 - (t - \text{offset})^{-c}$, $c$ = `decay_rate`) and
  $\operatorname{rms}(x) = \sqrt{\operatorname{mean}(|x|^2)}$ over a leaf:

  $$
  \begin{aligned}
  a_t &= g_t / \sqrt{\hat V_t}, \qquad
  b_t = \frac{a_t}{\max(1, \operatorname{rms}(a_t) / d)}, \qquad
  c_t = \eta_t\, \max(\operatorname{rms}(w_{t-1}), 10^{-3})\, b_t, \\
  m_t &= \beta_m m_{t-1} + (1 - \beta_m)\, c_t, \qquad
  w_t = w_{t-1} - \big( m_t + \lambda\, w_{t-1} \big),
  \end{aligned}
  $$

  with $d$ = `clipping_threshold`, $\beta_m$ = `momentum` (an undebiased EMA) and
  $\lambda$ = `weight_decay_rate`; each stage whose argument is `None` is skipped
  ($m_t = c_t$ without momentum), and `multiply_by_parameter_scale=False` drops the
  $\max(\operatorname{rms}(w), 10^{-3})$ factor (Optax's order).

  Defaults: `min_dim_size_to_factor=128`, `decay_rate=0.8`, `decay_offset=0`,
  `clipping_threshold=1`, `eps=1e-30`, `multiply_by_parameter_scale=True`,
  `factored=True` (Optax's `adafactor`). `dtype_momentum` defaults to the state-dtype
  policy (at least float32; Optax's default is float32).

  Args:
    learning_rate: $\eta$, a number, a schedule, or `None` (no scaling stage).
    min_dim_size_to_factor: the smallest second-largest axis of a factored leaf.
    decay_rate: $c$ in $\beta_t = 1 - t^{-c}$.
    decay_offset: the step the decay schedule restarts from.
    multiply_by_parameter_scale: scale by $\max(\operatorname{rms}(w), 10^{-3})$.
    clipping_threshold: $d$, or `None` for no update clipping.
    momentum: $\beta_m$, or `None` for no momentum.
    dtype_momentum: dtype of the momentum.
    weight_decay_rate: $\lambda$, or `None` for no decay.
    eps: $\epsilon$, added to $|g|^2$.
    factored: factor the second moment of large matrices.
    weight_decay_mask: the leaves decayed; all by default.
    state_dtype: dtype of the statistics.
  """
  _checks.decay_rate("adafactor", "momentum", momentum)
  _checks.positive("adafactor", "clipping_threshold", clipping_threshold)
  _checks.non_negative("adafactor", "eps", eps)
  stages: list[GradientTransformation] = [
    scale_by_factored_rms(
      factored, decay_rate, decay_offset, min_dim_size_to_factor, eps, state_dtype=state_dtype
    )
  ]
  if clipping_threshold is not None:
    stages.append(clip_by_block_rms(clipping_threshold))
  if learning_rate is not None:
    stages.append(scale_by_learning_rate(learning_rate, flip_sign=False))
  if multiply_by_parameter_scale:
    stages.append(scale_by_param_block_rms())
  if momentum is not None:
    stages.append(ema(momentum, debias=False, state_dtype=pick_dtype(dtype_momentum, state_dtype)))
  if weight_decay_rate is not None:
    stages.append(add_decayed_weights(weight_decay_rate, weight_decay_mask))
  stages.append(scale(-1.0))
  return chain(*stages)


sgd = optimizer(_sgd)
adagrad = optimizer(_adagrad)
rmsprop = optimizer(_rmsprop)
adam = optimizer(_adam)
adamw = optimizer(_adamw)
nadam = optimizer(_nadam)
nadamw = optimizer(_nadamw)
amsgrad = optimizer(_amsgrad)
adamax = optimizer(_adamax)
radam = optimizer(_radam)
adabelief = optimizer(_adabelief)
adadelta = optimizer(_adadelta)
lion = optimizer(_lion)
lamb = optimizer(_lamb)
lars = optimizer(_lars)
adafactor = optimizer(_adafactor, static_args=("min_dim_size_to_factor",))
