"""`torch.optim` SGD, RMSprop, Adagrad, Adadelta, Rprop, ASGD as short gradtx chains.

Each factory takes `torch.optim`'s keyword arguments and defaults (no
`params`) and returns a `NamedOptimizer`. Arguments that only choose
PyTorch's kernels (`foreach`, `fused`, `capturable`, `differentiable`) are
accepted and change nothing.
"""

from __future__ import annotations

from typing import Any

from gradtx.combinators.combine import chain
from gradtx.core import checks as _checks
from gradtx.core.named import named_optimizer
from gradtx.core.protocol import GradientTransformation, identity
from gradtx.primitives.adaptive.adadelta import scale_by_adadelta
from gradtx.primitives.adaptive.adagrad import scale_by_rss
from gradtx.primitives.adaptive.resilient import scale_by_rprop
from gradtx.primitives.adaptive.rmsprop import scale_by_rms, scale_by_stddev
from gradtx.primitives.moments.dampened import dampened_trace
from gradtx.primitives.moments.momentum import trace
from gradtx.primitives.scaling.asgd import scale_by_asgd
from gradtx.primitives.scaling.scaling import scale, scale_by_learning_rate, scale_by_schedule
from gradtx.schedules import inverse_time_decay
from gradtx.torch_optim._common import check_common, check_lr, is_zero, l2_stage, maximize_stage

__all__ = ["SGD", "RMSprop", "Adagrad", "Adadelta", "Rprop", "ASGD"]


def _number_lr(owner: str, lr: Any) -> None:
  """Rprop and ASGD keep `lr` in their state (the initial step size / `eta`): a number."""
  if callable(lr):
    raise TypeError(
      f"{owner}: lr must be a number (it is read into the optimizer's state); "
      "schedule it with gradtx.torch_optim.lr_scheduler instead."
    )


def _SGD(
  lr: Any = 1e-3,
  momentum: Any = 0.0,
  dampening: Any = 0.0,
  weight_decay: Any = 0.0,
  nesterov: bool = False,
  *,
  maximize: bool = False,
  foreach: Any = None,
  differentiable: bool = False,
  fused: Any = None,
) -> GradientTransformation:
  """`torch.optim.SGD`: `b_1 = g_1`, `b_t = mu b + (1 - dampening) g` on `g + wd w`;
  `w <- w - lr b` (Nesterov: `w <- w - lr (g + mu b)`). With `dampening = 0` the
  momentum stage is `trace`, as in `gradtx.sgd`."""
  check_common("SGD", lr, 0.0, weight_decay)
  _checks.non_negative("SGD", "momentum", momentum)
  if nesterov and (is_zero(momentum) or not is_zero(dampening)):
    raise ValueError(
      "SGD: nesterov=True is invalid with momentum="
      f"{momentum!r}, dampening={dampening!r}; Nesterov momentum requires "
      "a momentum > 0 and dampening=0."
    )
  if is_zero(momentum):
    stage = identity()
  elif is_zero(dampening):
    stage = trace(momentum, nesterov)
  else:
    stage = dampened_trace(momentum, dampening, nesterov)
  return chain(maximize_stage(maximize), l2_stage(weight_decay), stage, scale_by_learning_rate(lr))


def _RMSprop(
  lr: Any = 1e-2,
  alpha: Any = 0.99,
  eps: Any = 1e-8,
  weight_decay: Any = 0.0,
  momentum: Any = 0.0,
  centered: bool = False,
  capturable: bool = False,
  foreach: Any = None,
  maximize: bool = False,
  differentiable: bool = False,
) -> GradientTransformation:
  """`torch.optim.RMSprop`: `S = alpha S + (1 - alpha) g^2` on `g + wd w`,
  `u = g / (sqrt(S) + eps)` (`centered`: `sqrt(S - M^2)`), momentum on `u`
  before the learning rate: `b = mu b + u`, `w <- w - lr b`."""
  check_common("RMSprop", lr, eps, weight_decay)
  _checks.non_negative("RMSprop", "alpha", alpha)
  _checks.non_negative("RMSprop", "momentum", momentum)
  scaler = scale_by_stddev if centered else scale_by_rms
  return chain(
    maximize_stage(maximize),
    l2_stage(weight_decay),
    scaler(alpha, eps, 0.0, eps_in_sqrt=False),
    identity() if is_zero(momentum) else trace(momentum),
    scale_by_learning_rate(lr),
  )


def _Adagrad(
  lr: Any = 1e-2,
  lr_decay: Any = 0.0,
  weight_decay: Any = 0.0,
  initial_accumulator_value: Any = 0.0,
  eps: Any = 1e-10,
  foreach: Any = None,
  *,
  maximize: bool = False,
  differentiable: bool = False,
  fused: Any = None,
) -> GradientTransformation:
  """`torch.optim.Adagrad`: `G += g^2` on `g + wd w`,
  `w <- w - lr / (1 + (t - 1) lr_decay) * g / (sqrt(G) + eps)`."""
  check_common("Adagrad", lr, eps, weight_decay)
  _checks.non_negative("Adagrad", "lr_decay", lr_decay)
  _checks.non_negative("Adagrad", "initial_accumulator_value", initial_accumulator_value)
  decay = identity() if is_zero(lr_decay) else scale_by_schedule(inverse_time_decay(1.0, lr_decay))
  return chain(
    maximize_stage(maximize),
    l2_stage(weight_decay),
    scale_by_rss(initial_accumulator_value, eps, eps_in_sqrt=False),
    decay,
    scale_by_learning_rate(lr),
  )


def _Adadelta(
  lr: Any = 1.0,
  rho: Any = 0.9,
  eps: Any = 1e-6,
  weight_decay: Any = 0.0,
  foreach: Any = None,
  *,
  capturable: bool = False,
  maximize: bool = False,
  differentiable: bool = False,
) -> GradientTransformation:
  """`torch.optim.Adadelta`: Zeiler's step on `g + wd w`, times `lr`."""
  check_common("Adadelta", lr, eps, weight_decay)
  _checks.unit_interval("Adadelta", "rho", rho)
  return chain(
    maximize_stage(maximize),
    l2_stage(weight_decay),
    scale_by_adadelta(rho, eps),
    scale_by_learning_rate(lr),
  )


def _Rprop(
  lr: Any = 1e-2,
  etas: Any = (0.5, 1.2),
  step_sizes: Any = (1e-6, 50.0),
  *,
  capturable: bool = False,
  foreach: Any = None,
  maximize: bool = False,
  differentiable: bool = False,
) -> GradientTransformation:
  """`torch.optim.Rprop` (iRprop-, see `scale_by_rprop`); `lr` is the
  initial per-coordinate step, read once at `init`."""
  check_lr("Rprop", lr)
  _number_lr("Rprop", lr)
  _checks.check(
    "Rprop",
    "etas",
    etas,
    lambda v: (v.shape == (2,)) and (0 < v[0] < 1 < v[1]),
    "a pair (etaminus, etaplus) with 0 < etaminus < 1 < etaplus",
  )
  return chain(
    maximize_stage(maximize),
    scale_by_rprop(lr, etas[0], etas[1], step_sizes[0], step_sizes[1]),
    scale(-1.0),
  )


def _ASGD(
  lr: Any = 1e-2,
  lambd: Any = 1e-4,
  alpha: Any = 0.75,
  t0: Any = 1e6,
  weight_decay: Any = 0.0,
  foreach: Any = None,
  maximize: bool = False,
  differentiable: bool = False,
  capturable: bool = False,
) -> GradientTransformation:
  """`torch.optim.ASGD` (see `scale_by_asgd`); the averaged parameters are
  `gradtx.torch_optim.asgd_average(state)`."""
  check_common("ASGD", lr, 0.0, weight_decay)
  _number_lr("ASGD", lr)
  return chain(
    maximize_stage(maximize), l2_stage(weight_decay), scale_by_asgd(lr, lambd, alpha, t0)
  )


SGD = named_optimizer(_SGD)
RMSprop = named_optimizer(_RMSprop)
Adagrad = named_optimizer(_Adagrad)
Adadelta = named_optimizer(_Adadelta)
Rprop = named_optimizer(_Rprop)
ASGD = named_optimizer(_ASGD)
