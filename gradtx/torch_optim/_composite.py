"""PyTorch's ChainedScheduler and SequentialLR: their `Rule`s and constructors (re-exported by
`gradtx.torch_optim.lr_scheduler`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp

from gradtx.core.module import static
from gradtx.torch_optim._cyclic import PlateauRule
from gradtx.torch_optim._scheduled import Rule, Scheduled, build, integer, select

__all__ = ["ChainRule", "SequenceRule", "ChainedScheduler", "SequentialLR"]


def _construct_all(rules: tuple, group: dict) -> tuple[list, dict]:
  """The schedulers' constructors, in order, on one optimizer (as a user builds them)."""
  states = []
  for rule in rules:
    rstate, group = rule.construct(group)
    states.append(rstate)
  return states, group


class ChainRule(Rule):
  """`ChainedScheduler`: every scheduler steps, in order, on the same group."""

  rules: tuple

  @property
  def cycles_momentum(self) -> bool:
    return any(r.cycles_momentum for r in self.rules)

  def construct(self, group):
    states, group = _construct_all(self.rules, group)
    return {"rules": tuple(states)}, group

  def step(self, rstate, group, value):
    states = []
    for rule, s in zip(self.rules, rstate["rules"]):
      s, group = rule.step(s, group, value)
      states.append(s)
    return {"rules": tuple(states)}, group


class SequenceRule(Rule):
  """`SequentialLR`: `rules[i]` steps between `milestones[i-1]` and `milestones[i]`;
  at a milestone the next one restarts at epoch 0 (its closed form)."""

  rules: tuple
  milestones: tuple = static()

  @property
  def cycles_momentum(self) -> bool:
    return any(r.cycles_momentum for r in self.rules)

  def construct(self, group):
    states, group = _construct_all(self.rules, group)
    group = dict(group, lr=group["initial_lr"])
    states = [r.undo(s) for r, s in zip(self.rules, states)]
    first = sum(m <= 0 for m in self.milestones)
    states[first], group = self.rules[first].initial_step(states[first], group)
    return {"last_epoch": integer(0), "rules": tuple(states)}, group

  def step(self, rstate, group, value):
    e = rstate["last_epoch"] + 1
    idx = sum((m <= e).astype(jnp.int32) for m in self.milestones)
    at_milestone = sum((m == e).astype(jnp.int32) for m in self.milestones) > 0
    states, new_group = [], group
    for i, (rule, s) in enumerate(zip(self.rules, rstate["rules"])):
      stepped = rule.step(s, group, value)
      restarted = rule.restart(s, group) if i > 0 else stepped
      s_new, g_new = select(at_milestone, restarted, stepped)
      mine = idx == i
      states.append(select(mine, s_new, s))
      new_group = select(mine, g_new, new_group)
    return {"last_epoch": e, "rules": tuple(states)}, new_group


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
  r"""`torch.optim.lr_scheduler.ChainedScheduler`: all schedulers step, in order.

  $$
  \eta_e = S_n\big(\cdots S_2(S_1(\eta_{e-1}, e), e) \cdots, e\big),
  $$

  with $S_j$ the chainable step (PyTorch's `get_lr`) of `schedulers[j]`, applied to the rate the
  previous one left, on one optimizer (their constructors run in the given order, as a user builds
  them). With `CyclicLR` or `OneCycleLR` inside, the momentum (beta1) is chained the same way.

  Defaults: `optimizer=None` (torch.optim.lr_scheduler.ChainedScheduler, PyTorch 2.x: the
  schedulers' own).

  Args:
    schedulers: the schedulers, all on one optimizer (no `ReduceLROnPlateau`).
    optimizer: checked to be the schedulers' optimizer if given.
  """
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
  r"""`torch.optim.lr_scheduler.SequentialLR`: one scheduler after another.

  $$
  i(e) = \#\{j \,:\, m_j \le e\}, \qquad
  \eta_e = S_{i(e)}\big(e - m_{i(e)}\big) \quad (m_0 = 0),
  $$

  with $m_1 < m_2 < \dots$ the `milestones` and $S_i$ `schedulers[i]` run from its own epoch 0: at
  $e = m_i$ it restarts from the current rate with its closed form at epoch 0 (PyTorch's
  `scheduler.step(0)`), then steps in its chainable form; $e$ is the scheduler's epoch
  (`last_epoch`) and $\eta_0$ the optimizer's `lr`.

  Defaults: `last_epoch=-1` (torch.optim.lr_scheduler.SequentialLR, PyTorch 2.x);
  `steps_per_epoch=None` (gradtx's).

  Args:
    optimizer: a `gradtx.torch_optim` (or named gradtx) optimizer with a numeric `lr`.
    schedulers: $S_0, S_1, \dots$, one more than the milestones.
    milestones: $m_1, m_2, \dots$, the epochs where the next scheduler takes over.
    last_epoch: -1 only (resume by restoring the saved gradtx state).
    steps_per_epoch: gradtx's: step the scheduler once every this many updates.
  """
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
