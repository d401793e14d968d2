"""Named optimizers: short chains of the primitives, with Optax's names and defaults.

Each returns a `Chain`; moving code from Optax is a change of import. Every
numeric argument is a pytree leaf of the result (no recompile when it
changes); `learning_rate` may be a number or a schedule.
"""

from __future__ import annotations

from typing import Any

from gradtx._numerics import pick_dtype
from gradtx.adagrad import scale_by_rss
from gradtx.adam import scale_by_adam, scale_by_adamax, scale_by_amsgrad
from gradtx.base import identity
from gradtx.combine import Chain, chain
from gradtx.momentum import trace
from gradtx.rmsprop import scale_by_rms, scale_by_stddev
from gradtx.scaling import scale_by_learning_rate
from gradtx.weight_decay import add_decayed_weights

__all__ = ["sgd", "adagrad", "rmsprop", "adam", "adamw", "nadam", "nadamw", "amsgrad",
           "adamax"]


def sgd(learning_rate: Any, momentum: Any = None, nesterov: bool = False,
        accumulator_dtype: Any = None, *, state_dtype: Any = None) -> Chain:
  """SGD, with heavy-ball or Nesterov momentum: `v = g + mu v`, `w <- w - lr v`
  (Nesterov: `w <- w - lr (g + mu v)`). No momentum by default (Optax)."""
  dtype = pick_dtype(state_dtype, accumulator_dtype)
  momentum_tx = trace(momentum, nesterov, state_dtype=dtype) if momentum is not None else identity()
  return chain(momentum_tx, scale_by_learning_rate(learning_rate))


def adagrad(learning_rate: Any, initial_accumulator_value: Any = 0.1, eps: Any = 1e-7, *,
            eps_in_sqrt: bool = True, state_dtype: Any = None) -> Chain:
  """AdaGrad: `G += g^2`, `w <- w - lr g / sqrt(G + eps)` (Optax's defaults)."""
  return chain(scale_by_rss(initial_accumulator_value, eps, eps_in_sqrt=eps_in_sqrt,
                            state_dtype=state_dtype),
               scale_by_learning_rate(learning_rate))


def rmsprop(learning_rate: Any, decay: Any = 0.9, eps: Any = 1e-8, initial_scale: Any = 0.0,
            eps_in_sqrt: bool = True, centered: bool = False, momentum: Any = None,
            nesterov: bool = False, bias_correction: bool = False, *,
            state_dtype: Any = None) -> Chain:
  """RMSProp: `S = decay S + (1 - decay) g^2`, `w <- w - lr g / sqrt(S + eps)`
  (`eps_in_sqrt=False`: `/ (sqrt(S) + eps)`); `centered` subtracts the mean's
  square; optional momentum after the learning rate (Optax's order)."""
  scaler = scale_by_stddev if centered else scale_by_rms
  return chain(
      scaler(decay, eps, initial_scale, eps_in_sqrt, bias_correction, state_dtype=state_dtype),
      scale_by_learning_rate(learning_rate),
      trace(momentum, nesterov, state_dtype=state_dtype) if momentum is not None else identity())


def adam(learning_rate: Any, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8,
         eps_root: Any = 0.0, mu_dtype: Any = None, *, nesterov: bool = False,
         state_dtype: Any = None) -> Chain:
  """Adam with bias correction: `w <- w - lr m_hat / (sqrt(v_hat) + eps)`."""
  return chain(scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov,
                             state_dtype=state_dtype),
               scale_by_learning_rate(learning_rate))


def adamw(learning_rate: Any, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8,
          eps_root: Any = 0.0, mu_dtype: Any = None, weight_decay: Any = 1e-4,
          mask: Any = None, *, nesterov: bool = False, state_dtype: Any = None) -> Chain:
  """AdamW (decoupled weight decay): `w <- w - lr (m_hat / (sqrt(v_hat) + eps) + wd w)`.
  Optax's default `weight_decay=1e-4`."""
  return chain(scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov,
                             state_dtype=state_dtype),
               add_decayed_weights(weight_decay, mask),
               scale_by_learning_rate(learning_rate))


def nadam(learning_rate: Any, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8,
          eps_root: Any = 0.0, mu_dtype: Any = None, *, state_dtype: Any = None) -> Chain:
  """NAdam: Adam with Nesterov momentum (`adam(..., nesterov=True)`)."""
  return adam(learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov=True,
              state_dtype=state_dtype)


def nadamw(learning_rate: Any, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8,
           eps_root: Any = 0.0, mu_dtype: Any = None, weight_decay: Any = 1e-4,
           mask: Any = None, *, state_dtype: Any = None) -> Chain:
  """NAdamW: AdamW with Nesterov momentum (`adamw(..., nesterov=True)`)."""
  return adamw(learning_rate, b1, b2, eps, eps_root, mu_dtype, weight_decay, mask,
               nesterov=True, state_dtype=state_dtype)


def amsgrad(learning_rate: Any, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8,
            eps_root: Any = 0.0, mu_dtype: Any = None, *, state_dtype: Any = None) -> Chain:
  """AMSGrad: Adam with `v_max = max(v_max, v_hat)` in the denominator."""
  return chain(scale_by_amsgrad(b1, b2, eps, eps_root, mu_dtype, state_dtype=state_dtype),
               scale_by_learning_rate(learning_rate))


def adamax(learning_rate: Any, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8, *,
           state_dtype: Any = None) -> Chain:
  """AdaMax: Adam with the infinity norm, `u = max(b2 u, |g| + eps)`."""
  return chain(scale_by_adamax(b1, b2, eps, state_dtype=state_dtype),
               scale_by_learning_rate(learning_rate))
