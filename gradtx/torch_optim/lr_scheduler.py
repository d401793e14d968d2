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
from gradtx.torch_optim._composite import ChainedScheduler, SequentialLR
from gradtx.torch_optim._cyclic_lr import (
  CosineAnnealingLR,
  CosineAnnealingWarmRestarts,
  CyclicLR,
  OneCycleLR,
  ReduceLROnPlateau,
)
from gradtx.torch_optim._rules import (
  ConstantRule,
  ExponentialRule,
  LambdaRule,
  LinearRule,
  MultiplicativeRule,
  MultiStepRule,
  PolynomialRule,
  StepRule,
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
  r"""`torch.optim.lr_scheduler.LambdaLR`: the initial rate times a function of the epoch.

  $$
  \eta_e = \eta_0\, \lambda(e),
  $$

  with $\lambda$ = `lr_lambda` (it receives a JAX scalar: use `jnp`); $e$ is the scheduler's epoch
  (`last_epoch`) and $\eta_0$ the optimizer's `lr`.

  Defaults: `last_epoch=-1` (torch.optim.lr_scheduler.LambdaLR, PyTorch 2.x);
  `steps_per_epoch=None`, `initial_lr=None` (gradtx's).

  Args:
    optimizer: a `gradtx.torch_optim` (or named gradtx) optimizer with a numeric `lr`.
    lr_lambda: $\lambda$, a function of the epoch.
    last_epoch: PyTorch's: -1 starts at epoch 0; $k \ge 0$ resumes at epoch $k + 1$
      (with `initial_lr`).
    steps_per_epoch: gradtx's: step the scheduler once every this many updates.
    initial_lr: $\eta_0$ when resuming (PyTorch's `param_groups[0]["initial_lr"]`).
  """
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
  r"""`torch.optim.lr_scheduler.MultiplicativeLR`: the rate times a function, each epoch.

  $$
  \eta_e = \eta_{e-1}\, \lambda(e) \quad (e \ge 1),
  $$

  with $\lambda$ = `lr_lambda` (it receives a JAX scalar: use `jnp`); $e$ is the scheduler's epoch
  (`last_epoch`) and $\eta_0$ the optimizer's `lr`.

  Defaults: `last_epoch=-1` (torch.optim.lr_scheduler.MultiplicativeLR, PyTorch 2.x);
  `steps_per_epoch=None`, `initial_lr=None` (gradtx's).

  Args:
    optimizer: a `gradtx.torch_optim` (or named gradtx) optimizer with a numeric `lr`.
    lr_lambda: $\lambda$, a function of the epoch.
    last_epoch: PyTorch's: -1 starts at epoch 0; $k \ge 0$ resumes at epoch $k + 1$
      (with `initial_lr`).
    steps_per_epoch: gradtx's: step the scheduler once every this many updates.
    initial_lr: $\eta_0$ when resuming (PyTorch's `param_groups[0]["initial_lr"]`).
  """
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
  r"""`torch.optim.lr_scheduler.StepLR`: the rate times `gamma` every `step_size` epochs.

  $$
  \eta_e = \eta_0\, \gamma^{\lfloor e / T \rfloor},
  $$

  with $T$ = `step_size`; $e$ is the scheduler's epoch (`last_epoch`) and $\eta_0$ the optimizer's
  `lr`. Computed as PyTorch does, in its chainable form ($\eta_e = \gamma\, \eta_{e-1}$ when $e >
  0$ and $T$ divides $e$).

  Defaults: `gamma=0.1`, `last_epoch=-1` (torch.optim.lr_scheduler.StepLR, PyTorch 2.x);
  `steps_per_epoch=None`, `initial_lr=None` (gradtx's).

  Args:
    optimizer: a `gradtx.torch_optim` (or named gradtx) optimizer with a numeric `lr`.
    step_size: $T$, epochs between decays.
    gamma: $\gamma$.
    last_epoch: PyTorch's: -1 starts at epoch 0; $k \ge 0$ resumes at epoch $k + 1$
      (with `initial_lr`).
    steps_per_epoch: gradtx's: step the scheduler once every this many updates.
    initial_lr: $\eta_0$ when resuming (PyTorch's `param_groups[0]["initial_lr"]`).
  """
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
  r"""`torch.optim.lr_scheduler.MultiStepLR`: the rate times `gamma` at each milestone.

  $$
  \eta_e = \eta_0\, \gamma^{\#\{i \,:\, m_i \le e\}},
  $$

  with $m_i$ the `milestones` (a repeated milestone counts each time, as PyTorch's `Counter`); $e$
  is the scheduler's epoch (`last_epoch`) and $\eta_0$ the optimizer's `lr`. Computed in PyTorch's
  chainable form ($\eta_e = \gamma^{\#\{i \,:\, m_i = e\}} \eta_{e-1}$).

  Defaults: `gamma=0.1`, `last_epoch=-1` (torch.optim.lr_scheduler.MultiStepLR, PyTorch 2.x);
  `steps_per_epoch=None`, `initial_lr=None` (gradtx's).

  Args:
    optimizer: a `gradtx.torch_optim` (or named gradtx) optimizer with a numeric `lr`.
    milestones: $m_i$, epochs (sorted here).
    gamma: $\gamma$.
    last_epoch: PyTorch's: -1 starts at epoch 0; $k \ge 0$ resumes at epoch $k + 1$
      (with `initial_lr`).
    steps_per_epoch: gradtx's: step the scheduler once every this many updates.
    initial_lr: $\eta_0$ when resuming (PyTorch's `param_groups[0]["initial_lr"]`).
  """
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
  r"""`torch.optim.lr_scheduler.ConstantLR`: a factor for `total_iters` epochs.

  $$
  \eta_e = \begin{cases} \eta_0\, f & e < T, \\ \eta_0 & e \ge T, \end{cases}
  $$

  with $f$ = `factor` in $[0, 1]$ and $T$ = `total_iters`; $e$ is the scheduler's epoch
  (`last_epoch`) and $\eta_0$ the optimizer's `lr`.

  Defaults: `factor=1/3`, `total_iters=5`, `last_epoch=-1`
  (torch.optim.lr_scheduler.ConstantLR, PyTorch 2.x); `steps_per_epoch=None`,
  `initial_lr=None` (gradtx's).

  Args:
    optimizer: a `gradtx.torch_optim` (or named gradtx) optimizer with a numeric `lr`.
    factor: $f$.
    total_iters: $T$.
    last_epoch: PyTorch's: -1 starts at epoch 0; $k \ge 0$ resumes at epoch $k + 1$
      (with `initial_lr`).
    steps_per_epoch: gradtx's: step the scheduler once every this many updates.
    initial_lr: $\eta_0$ when resuming (PyTorch's `param_groups[0]["initial_lr"]`).
  """
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
  r"""`torch.optim.lr_scheduler.LinearLR`: a factor moving linearly over `total_iters` epochs.

  $$
  \eta_e = \eta_0 \Big(f_s + (f_e - f_s) \frac{\min(e, T)}{T}\Big),
  $$

  with $f_s$ = `start_factor` in $(0, 1]$, $f_e$ = `end_factor` and $T$ = `total_iters`; $e$ is
  the scheduler's epoch (`last_epoch`) and $\eta_0$ the optimizer's `lr`. Computed in PyTorch's
  chainable form (the ratio of successive factors).

  Defaults: `start_factor=1/3`, `end_factor=1.0`, `total_iters=5`, `last_epoch=-1`
  (torch.optim.lr_scheduler.LinearLR, PyTorch 2.x); `steps_per_epoch=None`, `initial_lr=None`
  (gradtx's).

  Args:
    optimizer: a `gradtx.torch_optim` (or named gradtx) optimizer with a numeric `lr`.
    start_factor: $f_s$.
    end_factor: $f_e$.
    total_iters: $T$.
    last_epoch: PyTorch's: -1 starts at epoch 0; $k \ge 0$ resumes at epoch $k + 1$
      (with `initial_lr`).
    steps_per_epoch: gradtx's: step the scheduler once every this many updates.
    initial_lr: $\eta_0$ when resuming (PyTorch's `param_groups[0]["initial_lr"]`).
  """
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
  r"""`torch.optim.lr_scheduler.ExponentialLR`: the rate times `gamma` every epoch.

  $$
  \eta_e = \gamma\, \eta_{e-1} = \eta_0\, \gamma^e,
  $$

  $e$ is the scheduler's epoch (`last_epoch`) and $\eta_0$ the optimizer's `lr`.

  Defaults: `last_epoch=-1` (torch.optim.lr_scheduler.ExponentialLR, PyTorch 2.x);
  `steps_per_epoch=None`, `initial_lr=None` (gradtx's). `gamma` has no default, as in PyTorch.

  Args:
    optimizer: a `gradtx.torch_optim` (or named gradtx) optimizer with a numeric `lr`.
    gamma: $\gamma$.
    last_epoch: PyTorch's: -1 starts at epoch 0; $k \ge 0$ resumes at epoch $k + 1$
      (with `initial_lr`).
    steps_per_epoch: gradtx's: step the scheduler once every this many updates.
    initial_lr: $\eta_0$ when resuming (PyTorch's `param_groups[0]["initial_lr"]`).
  """
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
  r"""`torch.optim.lr_scheduler.PolynomialLR`: polynomial decay to 0 over `total_iters` epochs.

  $$
  \eta_e = \eta_0 \Big(1 - \frac{\min(e, T)}{T}\Big)^{p},
  $$

  with $T$ = `total_iters` and $p$ = `power`; $e$ is the scheduler's epoch (`last_epoch`) and
  $\eta_0$ the optimizer's `lr`. Computed in PyTorch's chainable form.

  Defaults: `total_iters=5`, `power=1.0`, `last_epoch=-1`
  (torch.optim.lr_scheduler.PolynomialLR, PyTorch 2.x); `steps_per_epoch=None`,
  `initial_lr=None` (gradtx's).

  Args:
    optimizer: a `gradtx.torch_optim` (or named gradtx) optimizer with a numeric `lr`.
    total_iters: $T$.
    power: $p$.
    last_epoch: PyTorch's: -1 starts at epoch 0; $k \ge 0$ resumes at epoch $k + 1$
      (with `initial_lr`).
    steps_per_epoch: gradtx's: step the scheduler once every this many updates.
    initial_lr: $\eta_0$ when resuming (PyTorch's `param_groups[0]["initial_lr"]`).
  """
  check_int("PolynomialLR", "total_iters", total_iters, 1)
  return build(
    "PolynomialLR",
    optimizer,
    PolynomialRule(total_iters, power),
    last_epoch,
    steps_per_epoch,
    initial_lr,
  )
