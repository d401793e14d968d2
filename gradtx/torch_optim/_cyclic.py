"""PyTorch's CyclicLR, OneCycleLR (with momentum / beta1 cycling) and ReduceLROnPlateau."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

from gradtx.core.module import static
from gradtx.torch_optim._scheduled import LRRule, Rule, f, integer

__all__ = ["CyclicRule", "OneCycleRule", "PlateauRule"]


def _set_momentum(group: dict, value: Any, owner: str) -> dict:
  if "momentum" not in group:
    raise ValueError(
      f"{owner}: optimizer must support momentum or beta1 with `cycle_momentum` option enabled"
    )
  return dict(group, momentum=f(value))


class CyclicRule(LRRule):
  """Cyclical learning rates (Smith, 2017): a triangle between `base_lr` and `max_lr`
  of `step_size_up + step_size_down` epochs, scaled per cycle (`triangular2`:
  halved) or per iteration (`exp_range`: `gamma^e`); momentum moves opposite."""

  base_lr: Any
  max_lr: Any
  step_size_up: float = static(default=2000.0)
  step_size_down: float = static(default=2000.0)
  mode: str = static(default="triangular")
  gamma: Any = 1.0
  scale_fn: Callable | None = static(default=None)
  scale_mode: str = static(default="cycle")
  cycle_momentum: bool = static(default=True)
  base_momentum: Any = 0.8
  max_momentum: Any = 0.9

  @property
  def cycles_momentum(self) -> bool:
    return self.cycle_momentum

  def construct(self, group):
    group = dict(group, lr=f(self.base_lr))
    if self.cycle_momentum:
      group = _set_momentum(group, self.max_momentum, "CyclicLR")
    group.setdefault("initial_lr", group["lr"])
    rstate = {"last_epoch": integer(-1), "base": f(self.base_lr)}
    return self.initial_step(rstate, group)

  def _scale(self, x):
    if self.scale_fn is not None:
      return self.scale_fn(x)
    if self.mode == "triangular":
      return 1.0
    if self.mode == "triangular2":
      return 1 / (2.0 ** (x - 1))
    return f(self.gamma) ** x

  def get_lr(self, rstate, group, initial):
    e = f(rstate["last_epoch"])
    total = self.step_size_up + self.step_size_down
    ratio = self.step_size_up / total
    cycle = jnp.floor(1 + e / total)
    x = 1.0 + e / total - cycle
    factor = jnp.where(x <= ratio, x / ratio, (x - 1) / (ratio - 1))
    mode = (
      self.scale_mode
      if self.scale_fn is not None
      else ("iterations" if self.mode == "exp_range" else "cycle")
    )
    s = self._scale(cycle if mode == "cycle" else e)
    group = dict(group, lr=f(self.base_lr + (f(self.max_lr) - self.base_lr) * factor * s))
    if self.cycle_momentum:
      height = (f(self.max_momentum) - self.base_momentum) * factor
      group["momentum"] = f(self.max_momentum - height * s)
    return group


def _anneal(strategy: str, start, end, pct):
  if strategy == "cos":
    return end + (start - end) / 2.0 * (jnp.cos(math.pi * pct) + 1)
  return (end - start) * pct + start


class OneCycleRule(LRRule):
  """The 1cycle policy (Smith & Topin, 2018): warm up from `max_lr / div_factor`
  to `max_lr` over `pct_start` of `total_steps`, anneal (cos or linear) to
  `initial_lr / final_div_factor`; `three_phase` goes back to the initial rate
  first. Momentum moves between `max_momentum` and `base_momentum`, opposite."""

  max_lr: Any
  total_steps: int = static()
  pct_start: float = static(default=0.3)
  anneal_strategy: str = static(default="cos")
  cycle_momentum: bool = static(default=True)
  base_momentum: Any = 0.85
  max_momentum: Any = 0.95
  div_factor: Any = 25.0
  final_div_factor: Any = 1e4
  three_phase: bool = static(default=False)

  @property
  def cycles_momentum(self) -> bool:
    return self.cycle_momentum

  def _values(self) -> dict:
    initial = f(self.max_lr) / self.div_factor
    return {
      "initial_lr": initial,
      "max_lr": f(self.max_lr),
      "min_lr": initial / self.final_div_factor,
      "max_momentum": f(self.max_momentum),
      "base_momentum": f(self.base_momentum),
    }

  def _phases(self) -> list:
    n, p = self.total_steps, self.pct_start
    if self.three_phase:
      return [
        (float(p * n) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
        (float(2 * p * n) - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
        (n - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
      ]
    return [
      (float(p * n) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
      (n - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"),
    ]

  def construct(self, group):
    group = dict(group, initial_lr=self._values()["initial_lr"])
    if self.cycle_momentum:
      group = _set_momentum(group, self.max_momentum, "OneCycleLR")
    rstate = {"last_epoch": integer(-1), "base": group["initial_lr"]}
    return self.initial_step(rstate, group)

  def get_lr(self, rstate, group, initial):
    e = f(rstate["last_epoch"])
    v = self._values()
    phases = self._phases()
    starts = [0.0] + [p[0] for p in phases[:-1]]
    lr = momentum = None
    for (end, lr0, lr1, m0, m1), start in reversed(list(zip(phases, starts))):
      pct = (e - start) / (end - start)
      lr_i = _anneal(self.anneal_strategy, v[lr0], v[lr1], pct)
      m_i = _anneal(self.anneal_strategy, v[m0], v[m1], pct)
      lr = lr_i if lr is None else jnp.where(e <= end, lr_i, lr)
      momentum = m_i if momentum is None else jnp.where(e <= end, m_i, momentum)
    assert lr is not None and momentum is not None  # OneCycleLR has two or three phases
    # PyTorch raises once stepped past total_steps; inside jit the rate becomes NaN.
    group = dict(group, lr=f(jnp.where(e > self.total_steps, jnp.nan, lr)))
    if self.cycle_momentum:
      group["momentum"] = f(momentum)
    return group


class PlateauRule(Rule):
  """ReduceLROnPlateau: `lr <- max(lr * factor, min_lr)` (if that lowers it by more
  than `eps`) once the metric has not improved (by `threshold`, relative or
  absolute) for more than `patience` steps; then `cooldown` steps of rest."""

  mode: str = static(default="min")
  factor: Any = 0.1
  patience: Any = 10
  threshold: Any = 1e-4
  threshold_mode: str = static(default="rel")
  cooldown: Any = 0
  min_lr: Any = 0.0
  eps: Any = 1e-8

  def construct(self, group):
    worse = math.inf if self.mode == "min" else -math.inf
    rstate = {
      "last_epoch": integer(0),
      "best": f(worse),
      "num_bad_epochs": integer(0),
      "cooldown_counter": integer(0),
    }
    return rstate, dict(group)

  def _is_better(self, a, best):
    t = f(self.threshold)
    if self.mode == "min":
      return a < best * (1.0 - t) if self.threshold_mode == "rel" else a < best - t
    return a > best * (t + 1.0) if self.threshold_mode == "rel" else a > best + t

  def step(self, rstate, group, value):
    if value is None:
      raise ValueError(
        "ReduceLROnPlateau needs the metric: call update(updates, state, params, value=loss)."
      )
    current = f(value)
    better = self._is_better(current, rstate["best"])
    best = jnp.where(better, current, rstate["best"])
    bad = jnp.where(better, 0, rstate["num_bad_epochs"] + 1)
    cooling = rstate["cooldown_counter"] > 0
    counter = jnp.where(cooling, rstate["cooldown_counter"] - 1, rstate["cooldown_counter"])
    bad = jnp.where(cooling, 0, bad)
    reduce = bad > self.patience
    old = group["lr"]
    new = jnp.maximum(old * self.factor, f(self.min_lr))
    lr = jnp.where(reduce & (old - new > self.eps), new, old)
    counter = jnp.where(reduce, integer(self.cooldown), counter)
    bad = jnp.where(reduce, 0, bad)
    rstate = {
      "last_epoch": rstate["last_epoch"] + 1,
      "best": best,
      "num_bad_epochs": integer(bad),
      "cooldown_counter": integer(counter),
    }
    return rstate, dict(group, lr=f(lr))
