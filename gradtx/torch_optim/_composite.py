"""PyTorch's ChainedScheduler and SequentialLR over `Rule`s."""

from __future__ import annotations

import jax.numpy as jnp

from gradtx.core.module import static
from gradtx.torch_optim._scheduled import Rule, integer, select

__all__ = ["ChainRule", "SequenceRule"]


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
