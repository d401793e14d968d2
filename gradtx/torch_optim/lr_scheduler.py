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
from gradtx.torch_optim._cyclic import PlateauRule
from gradtx.torch_optim._cyclic_lr import CyclicLR, OneCycleLR, ReduceLROnPlateau
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
from gradtx.torch_optim._scheduled import Scheduled, ScheduledState, build, check_int, last_lr

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
  check_int("StepLR", "step_size", step_size, 1)
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
  check_int("ConstantLR", "total_iters", total_iters, 0)
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
  check_int("LinearLR", "total_iters", total_iters, 1)
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
  check_int("PolynomialLR", "total_iters", total_iters, 1)
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
  check_int("CosineAnnealingLR", "T_max", T_max, 1)
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
  check_int("CosineAnnealingWarmRestarts", "T_0", T_0, 1)
  check_int("CosineAnnealingWarmRestarts", "T_mult", T_mult, 1)
  return build(
    "CosineAnnealingWarmRestarts",
    optimizer,
    WarmRestartsRule(T_0, T_mult, eta_min),
    last_epoch,
    steps_per_epoch,
  )


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
