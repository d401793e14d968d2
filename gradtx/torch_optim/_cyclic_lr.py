"""PyTorch's CyclicLR, OneCycleLR and ReduceLROnPlateau constructors (re-exported by
`gradtx.torch_optim.lr_scheduler`, whose docstring describes the common behaviour)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gradtx.core import checks as _checks
from gradtx.torch_optim._cyclic import CyclicRule, OneCycleRule, PlateauRule
from gradtx.torch_optim._scheduled import Scheduled, build, check_int

__all__ = ["CyclicLR", "OneCycleLR", "ReduceLROnPlateau"]


def CyclicLR(
  optimizer: Any,
  base_lr: Any,
  max_lr: Any,
  step_size_up: int = 2000,
  step_size_down: int | None = None,
  mode: str = "triangular",
  gamma: Any = 1.0,
  scale_fn: Callable | None = None,
  scale_mode: str = "cycle",
  cycle_momentum: bool = True,
  base_momentum: Any = 0.8,
  max_momentum: Any = 0.9,
  last_epoch: int = -1,
  *,
  steps_per_epoch: Any = None,
) -> Scheduled:
  """Cyclical learning rates (modes `triangular`, `triangular2`, `exp_range`, or
  `scale_fn`); with `cycle_momentum` the optimizer's momentum (beta1) cycles
  between `max_momentum` and `base_momentum`, opposite to the rate."""
  if mode not in ("triangular", "triangular2", "exp_range") and scale_fn is None:
    raise ValueError(
      f"CyclicLR: mode={mode!r} is invalid and scale_fn is None; expected "
      "'triangular', 'triangular2' or 'exp_range'."
    )
  if scale_mode not in ("cycle", "iterations"):
    raise ValueError(
      f"CyclicLR: scale_mode={scale_mode!r} is invalid; expected 'cycle' or 'iterations'."
    )
  _checks.positive("CyclicLR", "step_size_up", step_size_up)
  up = float(step_size_up)
  down = float(step_size_down) if step_size_down is not None else up
  _checks.non_negative("CyclicLR", "base_lr", base_lr)
  rule = CyclicRule(
    base_lr,
    max_lr,
    up,
    down,
    mode,
    gamma,
    scale_fn,
    scale_mode,
    cycle_momentum,
    base_momentum,
    max_momentum,
  )
  return build("CyclicLR", optimizer, rule, last_epoch, steps_per_epoch)


def OneCycleLR(
  optimizer: Any,
  max_lr: Any,
  total_steps: int | None = None,
  epochs: int | None = None,
  steps_per_epoch: int | None = None,
  pct_start: float = 0.3,
  anneal_strategy: str = "cos",
  cycle_momentum: bool = True,
  base_momentum: Any = 0.85,
  max_momentum: Any = 0.95,
  div_factor: Any = 25.0,
  final_div_factor: Any = 1e4,
  three_phase: bool = False,
  last_epoch: int = -1,
) -> Scheduled:
  """The 1cycle policy over `total_steps` (or `epochs * steps_per_epoch`) updates.
  (Here `steps_per_epoch` is PyTorch's: it only sizes the cycle; OneCycleLR steps
  every update, as in PyTorch.) Past `total_steps` PyTorch raises; the rate here
  becomes NaN."""
  if total_steps is not None:
    check_int("OneCycleLR", "total_steps", total_steps, 1)
  elif epochs is not None and steps_per_epoch is not None:
    check_int("OneCycleLR", "epochs", epochs, 1)
    check_int("OneCycleLR", "steps_per_epoch", steps_per_epoch, 1)
    total_steps = epochs * steps_per_epoch
  else:
    raise ValueError(
      "OneCycleLR: You must define either total_steps OR (epochs AND steps_per_epoch)"
    )
  if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
    raise ValueError(f"OneCycleLR: pct_start={pct_start!r} is invalid; expected a float in [0, 1].")
  if anneal_strategy not in ("cos", "linear"):
    raise ValueError(
      f"OneCycleLR: anneal_strategy={anneal_strategy!r} is invalid; expected 'cos' or 'linear'."
    )
  rule = OneCycleRule(
    max_lr,
    total_steps,
    pct_start,
    anneal_strategy,
    cycle_momentum,
    base_momentum,
    max_momentum,
    div_factor,
    final_div_factor,
    three_phase,
  )
  return build("OneCycleLR", optimizer, rule, last_epoch, None)


def ReduceLROnPlateau(
  optimizer: Any,
  mode: str = "min",
  factor: Any = 0.1,
  patience: int = 10,
  threshold: Any = 1e-4,
  threshold_mode: str = "rel",
  cooldown: int = 0,
  min_lr: Any = 0.0,
  eps: Any = 1e-8,
  *,
  steps_per_epoch: Any = None,
) -> Scheduled:
  """Lowers the rate by `factor` once the metric (`update(..., value=loss)`) has not
  improved for more than `patience` steps."""
  if mode not in ("min", "max"):
    raise ValueError(f"ReduceLROnPlateau: mode={mode!r} is unknown; expected 'min' or 'max'.")
  if threshold_mode not in ("rel", "abs"):
    raise ValueError(
      f"ReduceLROnPlateau: threshold_mode={threshold_mode!r} is unknown; expected 'rel' or 'abs'."
    )
  _checks.check("ReduceLROnPlateau", "factor", factor, lambda v: v < 1, "a value < 1.0")
  check_int("ReduceLROnPlateau", "patience", patience, 0)
  check_int("ReduceLROnPlateau", "cooldown", cooldown, 0)
  rule = PlateauRule(mode, factor, patience, threshold, threshold_mode, cooldown, min_lr, eps)
  return build("ReduceLROnPlateau", optimizer, rule, -1, steps_per_epoch)
