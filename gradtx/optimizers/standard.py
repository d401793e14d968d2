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
  """SGD, with heavy-ball or Nesterov momentum: `v = g + mu v`, `w <- w - lr v`
  (Nesterov: `w <- w - lr (g + mu v)`). No momentum by default (Optax)."""
  _checks.decay_rate("sgd", "momentum", momentum)
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
  """AdaGrad: `G += g^2`, `w <- w - lr g / sqrt(G + eps)` (Optax's defaults)."""
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
  """RMSProp: `S = decay S + (1 - decay) g^2`, `w <- w - lr g / sqrt(S + eps)`
  (`eps_in_sqrt=False`: `/ (sqrt(S) + eps)`); `centered` subtracts the mean's
  square; optional momentum after the learning rate (Optax's order)."""
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
  """Adam with bias correction: `w <- w - lr m_hat / (sqrt(v_hat) + eps)`."""
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
  """AdamW (decoupled weight decay): `w <- w - lr (m_hat / (sqrt(v_hat) + eps) + wd w)`.
  Optax's default `weight_decay=1e-4`."""
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
  """NAdam: Adam with Nesterov momentum (`adam(..., nesterov=True)`)."""
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
  """NAdamW: AdamW with Nesterov momentum (`adamw(..., nesterov=True)`)."""
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
  """AMSGrad: Adam with `v_max = max(v_max, v_hat)` in the denominator."""
  return chain(
    scale_by_amsgrad(b1, b2, eps, eps_root, mu_dtype, state_dtype=state_dtype),
    scale_by_learning_rate(learning_rate),
  )


def _adamax(
  learning_rate: Any, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8, *, state_dtype: Any = None
) -> GradientTransformation:
  """AdaMax: Adam with the infinity norm, `u = max(b2 u, |g| + eps)`."""
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
  """RAdam: Adam's step times the rectification `r_t` once `rho_t >= threshold`,
  plain bias-corrected momentum before (see `ScaleByRadam`)."""
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
  """AdaBelief: Adam with `s = b2 s + (1 - b2) (g - m)^2 + eps_root` as the second
  moment: `w <- w - lr m_hat / (sqrt(s_hat) + eps)` (Optax's defaults)."""
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
  """Adadelta: `u = sqrt(E[u^2] + eps) / sqrt(E[g^2] + eps) g` on `g + wd w`,
  `w <- w - lr u`. `learning_rate=None` is the paper's unit step, `lr = 1`
  (Optax's `None` skips the scaling and so also its sign: it ascends)."""
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
  """Lion: `w <- w - lr (sign(b1 m + (1 - b1) g) + wd w)`, then
  `m <- b2 m + (1 - b2) g`. Optax's default `weight_decay=1e-3`."""
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
  """LAMB (You et al., 2019): `r = adam_direction + wd w` (masked decay), then per
  leaf `w <- w - lr (||w|| / ||r||) r`. Optax's defaults (`eps=1e-6`)."""
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
  """LARS (You et al., 2017): `r = g + wd w`; per leaf
  `r <- trust_coefficient ||w|| / (||r|| + eps) r` (on `trust_ratio_mask`);
  then momentum after the learning rate, `v = -lr r + momentum v`, `w <- w + v`."""
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
  """Adafactor (Shazeer & Stern, 2018): factored RMS scaling, per-block RMS clipping
  at `clipping_threshold`, `lr`, times `max(rms(w), 1e-3)`, optional momentum
  (undebiased EMA) and decoupled weight decay, then descent (Optax's order and
  defaults; a `None` stage is skipped). `dtype_momentum` defaults to the
  state-dtype policy (at least float32; Optax's default is float32)."""
  _checks.decay_rate("adafactor", "momentum", momentum)
  _checks.positive("adafactor", "clipping_threshold", clipping_threshold)
  _checks.non_negative("adafactor", "eps", eps)
  stages = [
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
