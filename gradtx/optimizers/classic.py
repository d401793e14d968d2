"""Classic named optimizers: SGD (heavy ball, Nesterov), AdaGrad, RMSProp, AdaDelta, Adafactor
(Optax's names and defaults; see `standard.py` for what every named optimizer is)."""

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
from gradtx.primitives.moments.momentum import ema, trace
from gradtx.primitives.scaling.scaling import scale, scale_by_learning_rate

__all__ = [
  "sgd",
  "adagrad",
  "rmsprop",
  "adadelta",
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
adadelta = optimizer(_adadelta)
adafactor = optimizer(_adafactor, static_args=("min_dim_size_to_factor",))
