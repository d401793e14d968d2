"""`gradtx.torch_optim.lr_scheduler`: `torch.optim.lr_scheduler` by class name and argument.

A scheduler takes the optimizer first, as in PyTorch, and returns it
scheduled (`Scheduled`, an ordinary `GradientTransformation`): the k-th
`update` uses exactly the values PyTorch's k-th `optimizer.step()` uses when
`scheduler.step()` follows each `optimizer.step()`. `ReduceLROnPlateau`
reads the metric from `update(grads, state, params, value=loss)`.
`steps_per_epoch=n` steps the scheduler once every n updates (PyTorch's
epoch-stepped loop; the clock is `gradtx.epoch_schedule`). `last_lr(state)` is
`scheduler.get_last_lr()[0]`. `lr_lambda`/`scale_fn` receive JAX scalars and
must use `jnp` (e.g. `jnp.where`) rather than Python `if`.

Resuming (`last_epoch=k >= 0`) follows PyTorch's constructor: the schedule's base is
`initial_lr=` (PyTorch's `param_groups[0]["initial_lr"]`, required as there), the
optimizer's `lr` is the group's current lr, and construction steps once to epoch
`k + 1` with PyTorch's `get_lr()` in its initial mode. Supported for the schedulers whose
state is `last_epoch` alone (LambdaLR, MultiplicativeLR, StepLR, MultiStepLR, ConstantLR,
LinearLR, ExponentialLR, PolynomialLR, CosineAnnealingLR); the others refuse it
(restore the saved gradtx state instead).
"""

from __future__ import annotations

from bisect import bisect_right  # noqa: F401  (documented: SequentialLR's milestone rule)
from collections.abc import Callable, Sequence
from typing import Any

from gradtx.core import checks as _checks
from gradtx.torch_optim._composite import ChainRule, SequenceRule
from gradtx.torch_optim._cyclic import CyclicRule, OneCycleRule, PlateauRule
from gradtx.torch_optim._rules import (
  ConstantRule,
  CosineAnnealingRule,
  ExponentialRule,
  LambdaRule,
  LinearRule,
  MultiplicativeRule,
  MultiStepRule,
  PolynomialRule,
  StepRule,
  WarmRestartsRule,
)
from gradtx.torch_optim._scheduled import Scheduled, ScheduledState, build, last_lr

__all__ = [
  "LambdaLR",
  "MultiplicativeLR",
  "StepLR",
  "MultiStepLR",
  "ConstantLR",
  "LinearLR",
  "ExponentialLR",
  "PolynomialLR",
  "CosineAnnealingLR",
  "CosineAnnealingWarmRestarts",
  "CyclicLR",
  "OneCycleLR",
  "SequentialLR",
  "ChainedScheduler",
  "ReduceLROnPlateau",
  "Scheduled",
  "ScheduledState",
  "last_lr",
]


def _int(owner: str, name: str, value: Any, minimum: int) -> None:
  if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
    raise ValueError(f"{owner}: {name}={value!r} is invalid; expected an integer >= {minimum}.")


def LambdaLR(
  optimizer: Any,
  lr_lambda: Callable,
  last_epoch: int = -1,
  *,
  steps_per_epoch: Any = None,
  initial_lr: Any = None,
) -> Scheduled:
  """`lr = initial_lr * lr_lambda(epoch)`."""
  if not callable(lr_lambda):
    raise TypeError(f"LambdaLR: lr_lambda={lr_lambda!r} is not a function.")
  return build(
    "LambdaLR", optimizer, LambdaRule(lr_lambda), last_epoch, steps_per_epoch, initial_lr
  )


def MultiplicativeLR(
  optimizer: Any,
  lr_lambda: Callable,
  last_epoch: int = -1,
  *,
  steps_per_epoch: Any = None,
  initial_lr: Any = None,
) -> Scheduled:
  """`lr <- lr * lr_lambda(epoch)` at each step."""
  if not callable(lr_lambda):
    raise TypeError(f"MultiplicativeLR: lr_lambda should be a function, got {lr_lambda!r}.")
  return build(
    "MultiplicativeLR",
    optimizer,
    MultiplicativeRule(lr_lambda),
    last_epoch,
    steps_per_epoch,
    initial_lr,
  )


def StepLR(
  optimizer: Any,
  step_size: int,
  gamma: Any = 0.1,
  last_epoch: int = -1,
  *,
  steps_per_epoch: Any = None,
  initial_lr: Any = None,
) -> Scheduled:
  """`lr = initial_lr * gamma^(epoch // step_size)`."""
  _int("StepLR", "step_size", step_size, 1)
  return build(
    "StepLR", optimizer, StepRule(step_size, gamma), last_epoch, steps_per_epoch, initial_lr
  )


def MultiStepLR(
  optimizer: Any,
  milestones: Sequence[int],
  gamma: Any = 0.1,
  last_epoch: int = -1,
  *,
  steps_per_epoch: Any = None,
  initial_lr: Any = None,
) -> Scheduled:
  """`lr <- lr * gamma` at each milestone."""
  milestones = tuple(sorted(int(m) for m in milestones))
  return build(
    "MultiStepLR",
    optimizer,
    MultiStepRule(milestones, gamma),
    last_epoch,
    steps_per_epoch,
    initial_lr,
  )


def ConstantLR(
  optimizer: Any,
  factor: Any = 1.0 / 3,
  total_iters: int = 5,
  last_epoch: int = -1,
  *,
  steps_per_epoch: Any = None,
  initial_lr: Any = None,
) -> Scheduled:
  """`lr = initial_lr * factor` for the first `total_iters` epochs, then `initial_lr`."""
  _checks.unit_interval("ConstantLR", "factor", factor)
  _int("ConstantLR", "total_iters", total_iters, 0)
  return build(
    "ConstantLR",
    optimizer,
    ConstantRule(factor, total_iters),
    last_epoch,
    steps_per_epoch,
    initial_lr,
  )


def LinearLR(
  optimizer: Any,
  start_factor: Any = 1.0 / 3,
  end_factor: Any = 1.0,
  total_iters: int = 5,
  last_epoch: int = -1,
  *,
  steps_per_epoch: Any = None,
  initial_lr: Any = None,
) -> Scheduled:
  """The factor moves linearly from `start_factor` to `end_factor` over `total_iters`."""
  _checks.check(
    "LinearLR", "start_factor", start_factor, lambda v: (v > 0) & (v <= 1), "a value in (0, 1]"
  )
  _checks.unit_interval("LinearLR", "end_factor", end_factor)
  _int("LinearLR", "total_iters", total_iters, 1)
  return build(
    "LinearLR",
    optimizer,
    LinearRule(start_factor, end_factor, total_iters),
    last_epoch,
    steps_per_epoch,
    initial_lr,
  )


def ExponentialLR(
  optimizer: Any,
  gamma: Any,
  last_epoch: int = -1,
  *,
  steps_per_epoch: Any = None,
  initial_lr: Any = None,
) -> Scheduled:
  """`lr <- lr * gamma` at each step."""
  return build(
    "ExponentialLR", optimizer, ExponentialRule(gamma), last_epoch, steps_per_epoch, initial_lr
  )


def PolynomialLR(
  optimizer: Any,
  total_iters: int = 5,
  power: Any = 1.0,
  last_epoch: int = -1,
  *,
  steps_per_epoch: Any = None,
  initial_lr: Any = None,
) -> Scheduled:
  """`lr = initial_lr * (1 - min(epoch, total_iters) / total_iters)^power`."""
  _int("PolynomialLR", "total_iters", total_iters, 1)
  return build(
    "PolynomialLR",
    optimizer,
    PolynomialRule(total_iters, power),
    last_epoch,
    steps_per_epoch,
    initial_lr,
  )


def CosineAnnealingLR(
  optimizer: Any,
  T_max: int,
  eta_min: Any = 0.0,
  last_epoch: int = -1,
  *,
  steps_per_epoch: Any = None,
  initial_lr: Any = None,
) -> Scheduled:
  """PyTorch's recursive cosine annealing to `eta_min` over `T_max`; past `T_max` it
  rises again (period `2 T_max`), unlike `gradtx.cosine_decay_schedule`."""
  _int("CosineAnnealingLR", "T_max", T_max, 1)
  return build(
    "CosineAnnealingLR",
    optimizer,
    CosineAnnealingRule(T_max, eta_min),
    last_epoch,
    steps_per_epoch,
    initial_lr,
  )


def CosineAnnealingWarmRestarts(
  optimizer: Any,
  T_0: int,
  T_mult: int = 1,
  eta_min: Any = 0.0,
  last_epoch: int = -1,
  *,
  steps_per_epoch: Any = None,
) -> Scheduled:
  """SGDR: cosine from `initial_lr` to `eta_min` over `T_i` epochs, `T_i = T_0 T_mult^k`."""
  _int("CosineAnnealingWarmRestarts", "T_0", T_0, 1)
  _int("CosineAnnealingWarmRestarts", "T_mult", T_mult, 1)
  return build(
    "CosineAnnealingWarmRestarts",
    optimizer,
    WarmRestartsRule(T_0, T_mult, eta_min),
    last_epoch,
    steps_per_epoch,
  )


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
    _int("OneCycleLR", "total_steps", total_steps, 1)
  elif epochs is not None and steps_per_epoch is not None:
    _int("OneCycleLR", "epochs", epochs, 1)
    _int("OneCycleLR", "steps_per_epoch", steps_per_epoch, 1)
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
  _int("ReduceLROnPlateau", "patience", patience, 0)
  _int("ReduceLROnPlateau", "cooldown", cooldown, 0)
  rule = PlateauRule(mode, factor, patience, threshold, threshold_mode, cooldown, min_lr, eps)
  return build("ReduceLROnPlateau", optimizer, rule, -1, steps_per_epoch)


def _same_optimizer(owner: str, schedulers: Sequence[Any], optimizer: Any = None) -> Any:
  if len(schedulers) < 1:
    raise ValueError(f"{owner} expects at least one scheduler, but got no scheduler.")
  optimizer = optimizer if optimizer is not None else schedulers[0].optimizer
  for i, s in enumerate(schedulers):
    if not isinstance(s, Scheduled):
      raise TypeError(f"{owner}: schedulers[{i}] is not a gradtx.torch_optim scheduler.")
    if isinstance(s.rule, PlateauRule):
      raise ValueError(f"{owner} does not support `ReduceLROnPlateau` scheduler (index {i}).")
    if s.optimizer != optimizer:
      raise ValueError(
        f"{owner} expects all schedulers to belong to the same optimizer; "
        f"schedulers[{i}] has another one."
      )
  return optimizer


def ChainedScheduler(schedulers: Sequence[Scheduled], optimizer: Any = None) -> Scheduled:
  """Steps every scheduler, in the given order (their constructors' order), at once."""
  optimizer = _same_optimizer("ChainedScheduler", schedulers, optimizer)
  steps = {s.steps_per_epoch for s in schedulers}
  rule = ChainRule(tuple(s.rule for s in schedulers))
  return build("ChainedScheduler", optimizer, rule, -1, steps.pop() if len(steps) == 1 else None)


def SequentialLR(
  optimizer: Any,
  schedulers: Sequence[Scheduled],
  milestones: Sequence[int],
  last_epoch: int = -1,
  *,
  steps_per_epoch: Any = None,
) -> Scheduled:
  """`schedulers[i]` runs from `milestones[i-1]` on (restarted at epoch 0 there)."""
  _same_optimizer("SequentialLR", schedulers, optimizer)
  if len(milestones) != len(schedulers) - 1:
    raise ValueError(
      "SequentialLR: Sequential Schedulers expects number of schedulers provided "
      "to be one more than the number of milestone points, but got number of "
      f"schedulers {len(schedulers)} and the number of milestones to be equal to "
      f"{len(milestones)}"
    )
  for i, s in enumerate(schedulers):
    if isinstance(s.rule, (ChainRule, SequenceRule)):
      raise ValueError(
        f"SequentialLR: schedulers[{i}] is a composite scheduler; nest "
        "SequentialLR inside ChainedScheduler instead."
      )
  rule = SequenceRule(tuple(s.rule for s in schedulers), tuple(int(m) for m in milestones))
  return build("SequentialLR", optimizer, rule, last_epoch, steps_per_epoch)
