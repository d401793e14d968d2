"""`torch.optim` Adam, AdamW, Adamax, NAdam, RAdam as short gradtx chains.

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
from gradtx.core.protocol import GradientTransformation
from gradtx.primitives.decay.weight_decay import add_decayed_weights
from gradtx.primitives.moments.adam import scale_by_adam, scale_by_adamax, scale_by_amsgrad
from gradtx.primitives.moments.nadam import scale_by_nadam
from gradtx.primitives.moments.radam import scale_by_radam
from gradtx.primitives.scaling.scaling import scale_by_learning_rate
from gradtx.torch_optim._common import check_betas, check_common, is_zero, l2_stage, maximize_stage

__all__ = ["Adam", "AdamW", "Adamax", "NAdam", "RAdam"]


def _with_decay(
  core: GradientTransformation, lr: Any, weight_decay: Any, decoupled: bool, maximize: bool
) -> GradientTransformation:
  """`maximize`, then coupled L2 decay before `core` or decoupled decay after it, then `-lr`."""
  if decoupled:
    decay = add_decayed_weights(weight_decay) if not is_zero(weight_decay) else None
    stages = [maximize_stage(maximize), core] + ([decay] if decay else [])
  else:
    stages = [maximize_stage(maximize), l2_stage(weight_decay), core]
  return chain(*stages, scale_by_learning_rate(lr))


def _Adam(
  lr: Any = 1e-3,
  betas: Any = (0.9, 0.999),
  eps: Any = 1e-8,
  weight_decay: Any = 0.0,
  amsgrad: bool = False,
  *,
  foreach: Any = None,
  maximize: bool = False,
  capturable: bool = False,
  differentiable: bool = False,
  fused: Any = None,
  decoupled_weight_decay: bool = False,
) -> GradientTransformation:
  """`torch.optim.Adam`: `w <- w - lr m_hat / (sqrt(v_hat) + eps)` on `g + wd w`
  (L2, coupled; `decoupled_weight_decay=True` is AdamW). `amsgrad=True` keeps
  the maximum of the raw `v` and corrects it after (PyTorch's AMSGrad)."""
  check_common("Adam", lr, eps, weight_decay)
  check_betas("Adam", betas)
  b1, b2 = betas
  core = scale_by_amsgrad(b1, b2, eps, raw_max=True) if amsgrad else scale_by_adam(b1, b2, eps)
  return _with_decay(core, lr, weight_decay, decoupled_weight_decay, maximize)


def _AdamW(
  lr: Any = 1e-3,
  betas: Any = (0.9, 0.999),
  eps: Any = 1e-8,
  weight_decay: Any = 1e-2,
  amsgrad: bool = False,
  *,
  maximize: bool = False,
  foreach: Any = None,
  capturable: bool = False,
  differentiable: bool = False,
  fused: Any = None,
) -> GradientTransformation:
  """`torch.optim.AdamW`: `w <- w - lr (m_hat / (sqrt(v_hat) + eps) + wd w)`
  (decoupled, Loshchilov & Hutter 2019); PyTorch's default `weight_decay=1e-2`."""
  check_common("AdamW", lr, eps, weight_decay)
  check_betas("AdamW", betas)
  b1, b2 = betas
  core = scale_by_amsgrad(b1, b2, eps, raw_max=True) if amsgrad else scale_by_adam(b1, b2, eps)
  return _with_decay(core, lr, weight_decay, True, maximize)


def _Adamax(
  lr: Any = 2e-3,
  betas: Any = (0.9, 0.999),
  eps: Any = 1e-8,
  weight_decay: Any = 0.0,
  foreach: Any = None,
  *,
  maximize: bool = False,
  differentiable: bool = False,
  capturable: bool = False,
) -> GradientTransformation:
  """`torch.optim.Adamax`: `u = max(b2 u, |g| + eps)`, `w <- w - lr m / (1 - b1^t) / u`
  on `g + wd w`."""
  check_common("Adamax", lr, eps, weight_decay)
  check_betas("Adamax", betas)
  return _with_decay(scale_by_adamax(betas[0], betas[1], eps), lr, weight_decay, False, maximize)


def _NAdam(
  lr: Any = 2e-3,
  betas: Any = (0.9, 0.999),
  eps: Any = 1e-8,
  weight_decay: Any = 0.0,
  momentum_decay: Any = 4e-3,
  decoupled_weight_decay: bool = False,
  *,
  foreach: Any = None,
  maximize: bool = False,
  capturable: bool = False,
  differentiable: bool = False,
) -> GradientTransformation:
  """`torch.optim.NAdam`: Dozat's NAdam with the momentum schedule
  `mu_t = b1 (1 - 0.5 * 0.96^(t momentum_decay))` (see `scale_by_nadam`)."""
  check_common("NAdam", lr, eps, weight_decay)
  check_betas("NAdam", betas)
  _checks.non_negative("NAdam", "momentum_decay", momentum_decay)
  return _with_decay(
    scale_by_nadam(betas[0], betas[1], eps, momentum_decay),
    lr,
    weight_decay,
    decoupled_weight_decay,
    maximize,
  )


def _RAdam(
  lr: Any = 1e-3,
  betas: Any = (0.9, 0.999),
  eps: Any = 1e-8,
  weight_decay: Any = 0.0,
  decoupled_weight_decay: bool = False,
  *,
  foreach: Any = None,
  maximize: bool = False,
  capturable: bool = False,
  differentiable: bool = False,
) -> GradientTransformation:
  """`torch.optim.RAdam`: rectified Adam once `rho_t > 5`, with eps added to
  `sqrt(v_t)` before the bias correction (see `scale_by_radam(raw_eps=True)`)."""
  check_common("RAdam", lr, eps, weight_decay)
  check_betas("RAdam", betas)
  core = scale_by_radam(betas[0], betas[1], eps, 0.0, 5.0, raw_eps=True)
  return _with_decay(core, lr, weight_decay, decoupled_weight_decay, maximize)


Adam = named_optimizer(_Adam)
AdamW = named_optimizer(_AdamW)
Adamax = named_optimizer(_Adamax)
NAdam = named_optimizer(_NAdam)
RAdam = named_optimizer(_RAdam)
