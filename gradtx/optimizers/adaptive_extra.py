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
  """Yogi (Zaheer et al., 2018): Adam with `v <- v - (1 - b2) sign(v - g^2) g^2`
  (see `ScaleByYogi`); Optax's defaults (`eps=1e-3`)."""
  return chain(
    scale_by_yogi(b1, b2, eps, state_dtype=state_dtype), scale_by_learning_rate(learning_rate)
  )


def _sm3(
  learning_rate: Any, momentum: Any = 0.9, *, state_dtype: Any = None
) -> GradientTransformation:
  """SM3 (Anil et al., 2019): per-axis accumulators (see `ScaleBySM3`) with momentum
  `momentum` (the `b1` of `scale_by_sm3`), then `w <- w - lr u`."""
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
  """NovoGrad (Ginsburg et al., 2019): layer-wise second moments (see
  `ScaleByNovograd`); Optax's defaults (`eps=1e-6`)."""
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
  """Adan (Xie et al., 2022): `w <- w - lr (adan_direction + wd w)` (decoupled decay,
  Optax's form; see `ScaleByAdan` for the direction, which follows the paper).
  Optax's defaults (`eps_root=1e-8`)."""
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
  """AdaMaxW: AdaMax with decoupled weight decay,
  `w <- w - lr (m_hat / u + wd w)`; Optax's default `weight_decay=1e-4`."""
  return chain(
    scale_by_adamax(b1, b2, eps, state_dtype=state_dtype),
    add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate),
  )


def _fromage(learning_rate: Any, min_norm: Any = 1e-6) -> GradientTransformation:
  """Fromage (Bernstein et al., 2020): per leaf
  `w <- (w - lr ||w|| / ||g|| g) / sqrt(1 + lr^2)` (norms floored at `min_norm`)."""
  return chain(scale_by_trust_ratio(min_norm), fromage_step(learning_rate))


def _noisy_sgd(
  learning_rate: Any,
  eta: Any = 0.01,
  gamma: Any = 0.55,
  key: Any = None,
  *,
  seed: int | None = None,
) -> GradientTransformation:
  """Noisy SGD (Neelakantan et al., 2015): `w <- w - lr (g + N(0, eta / t^gamma))`
  (see `AddNoise`); Optax's defaults."""
  return chain(add_noise(eta, gamma, key, seed=seed), scale_by_learning_rate(learning_rate))


yogi = optimizer(_yogi)
sm3 = optimizer(_sm3)
novograd = optimizer(_novograd)
adan = optimizer(_adan)
adamaxw = optimizer(_adamaxw)
fromage = optimizer(_fromage)
noisy_sgd = optimizer(_noisy_sgd, static_args=("key", "seed"))
