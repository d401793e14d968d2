"""PyTorch's learning-rate schedulers as `Rule`s, in PyTorch's own (chainable) form.

Each `get_lr` is the corresponding `torch.optim.lr_scheduler` class's `get_lr`
with `jnp.where` for its branches: `e` is `last_epoch`, `group["lr"]` the
current rate, `base` PyTorch's `base_lrs[0]`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

from gradtx.core.module import static
from gradtx.torch_optim._scheduled import LRRule, f, integer

__all__ = [
  "LambdaRule",
  "MultiplicativeRule",
  "StepRule",
  "MultiStepRule",
  "ConstantRule",
  "LinearRule",
  "ExponentialRule",
  "PolynomialRule",
  "CosineAnnealingRule",
  "WarmRestartsRule",
]


def _e(rstate: dict):
  return f(rstate["last_epoch"])


def _lr(group: dict, lr: Any) -> dict:
  return dict(group, lr=f(lr))


class LambdaRule(LRRule):
  """`lr = base * lr_lambda(e)`."""

  lr_lambda: Callable = static()

  def get_lr(self, rstate, group, initial):
    return _lr(group, rstate["base"] * self.lr_lambda(rstate["last_epoch"]))


class MultiplicativeRule(LRRule):
  """`lr <- lr * lr_lambda(e)` (unchanged by the initial step)."""

  lr_lambda: Callable = static()

  def get_lr(self, rstate, group, initial):
    if initial:
      return group
    return _lr(group, group["lr"] * self.lr_lambda(rstate["last_epoch"]))


class StepRule(LRRule):
  """`lr <- lr * gamma` every `step_size` epochs; closed form `base * gamma^(e // step_size)`."""

  step_size: int = static()
  gamma: Any = 0.1

  def get_lr(self, rstate, group, initial):
    e = rstate["last_epoch"]
    keep = (e == 0) | (e % self.step_size != 0)
    return _lr(group, jnp.where(keep, group["lr"], group["lr"] * self.gamma))

  def closed_form(self, rstate, group):
    return _lr(group, rstate["base"] * f(self.gamma) ** f(rstate["last_epoch"] // self.step_size))


class MultiStepRule(LRRule):
  """`lr <- lr * gamma^(times e is a milestone)`; closed form `base * gamma^#{m <= e}`."""

  milestones: tuple = static()
  gamma: Any = 0.1

  def get_lr(self, rstate, group, initial):
    e = rstate["last_epoch"]
    hits = sum((e == m).astype(jnp.int32) for m in self.milestones)
    return _lr(group, group["lr"] * f(self.gamma) ** f(hits))

  def closed_form(self, rstate, group):
    e = rstate["last_epoch"]
    passed = sum((m <= e).astype(jnp.int32) for m in self.milestones)
    return _lr(group, rstate["base"] * f(self.gamma) ** f(passed))


class ConstantRule(LRRule):
  """`lr * factor` at e = 0, `lr / factor` at e = total_iters."""

  factor: Any = 1.0 / 3
  total_iters: int = static(default=5)

  def get_lr(self, rstate, group, initial):
    e, lr = rstate["last_epoch"], group["lr"]
    out = jnp.where(
      e == 0, lr * self.factor, jnp.where(e != self.total_iters, lr, lr * (1.0 / f(self.factor)))
    )
    return _lr(group, out)

  def closed_form(self, rstate, group):
    past = f(rstate["last_epoch"] >= self.total_iters)
    return _lr(group, rstate["base"] * (self.factor + past * (1 - f(self.factor))))


class LinearRule(LRRule):
  """`lr * start_factor` at e = 0, then the ratio of successive linear factors
  up to e = total_iters."""

  start_factor: Any = 1.0 / 3
  end_factor: Any = 1.0
  total_iters: int = static(default=5)

  def get_lr(self, rstate, group, initial):
    e, lr = _e(rstate), group["lr"]
    if initial:
      return _lr(group, jnp.where(e == 0, lr * self.start_factor, lr))
    s, d = f(self.start_factor), f(self.end_factor) - f(self.start_factor)
    ratio = 1.0 + d / (self.total_iters * s + (e - 1.0) * d)
    out = jnp.where(e == 0, lr * s, jnp.where(e > self.total_iters, lr, lr * ratio))
    return _lr(group, out)

  def closed_form(self, rstate, group):
    s, d = f(self.start_factor), f(self.end_factor) - f(self.start_factor)
    e = jnp.minimum(_e(rstate), self.total_iters)
    return _lr(group, rstate["base"] * (s + d * e / self.total_iters))


class ExponentialRule(LRRule):
  """`lr <- lr * gamma`; closed form `base * gamma^e`."""

  gamma: Any

  def get_lr(self, rstate, group, initial):
    return group if initial else _lr(group, group["lr"] * self.gamma)

  def closed_form(self, rstate, group):
    return _lr(group, rstate["base"] * f(self.gamma) ** _e(rstate))


class PolynomialRule(LRRule):
  """`lr <- lr * ((1 - e/T) / (1 - (e-1)/T))^power` up to e = T = total_iters."""

  total_iters: int = static(default=5)
  power: Any = 1.0

  def get_lr(self, rstate, group, initial):
    if initial:
      return group
    e, t = _e(rstate), float(self.total_iters)
    factor = ((t - e) / (t - e + 1.0)) ** self.power  # (1 - e/t) / (1 - (e-1)/t), 0 at e = t
    return _lr(group, jnp.where(e > t, group["lr"], group["lr"] * factor))

  def closed_form(self, rstate, group):
    e = jnp.minimum(_e(rstate), self.total_iters)
    return _lr(group, rstate["base"] * ((self.total_iters - e) / self.total_iters) ** self.power)


class CosineAnnealingRule(LRRule):
  """PyTorch's recursive cosine annealing (it rises again past `T_max`, period `2 T_max`)."""

  T_max: int = static()
  eta_min: Any = 0.0

  def get_lr(self, rstate, group, initial):
    if initial:
      return group
    e, lr, t = rstate["last_epoch"], group["lr"], self.T_max
    eta_min, pi = f(self.eta_min), math.pi
    turn = (e - 1 - t) % (2 * t) == 0
    rising = lr + (rstate["base"] - eta_min) * (1 - math.cos(pi / t)) / 2
    ef = f(e)
    ratio = (1 + jnp.cos(pi * ef / t)) / (1 + jnp.cos(pi * (ef - 1) / t))
    return _lr(group, jnp.where(turn, rising, ratio * (lr - eta_min) + eta_min))

  def closed_form(self, rstate, group):
    eta_min = f(self.eta_min)
    cos = jnp.cos(math.pi * _e(rstate) / self.T_max)
    return _lr(group, eta_min + (rstate["base"] - eta_min) * (1 + cos) / 2)


class WarmRestartsRule(LRRule):
  """`lr = eta_min + (base - eta_min)(1 + cos(pi T_cur / T_i)) / 2`; at `T_cur = T_i`
  it restarts with `T_i <- T_i * T_mult` (SGDR, Loshchilov & Hutter 2017)."""

  T_0: int = static()
  T_mult: int = static(default=1)
  eta_min: Any = 0.0

  def construct(self, group):
    group = dict(group)
    group.setdefault("initial_lr", group["lr"])
    rstate = {
      "last_epoch": integer(-1),
      "base": group["initial_lr"],
      "T_cur": integer(-1),
      "T_i": integer(self.T_0),
    }
    return self.step(rstate, group)

  def initial_step(self, rstate, group):
    return self.step(rstate, group)

  def step(self, rstate, group, value=None):
    del value
    fresh = rstate["last_epoch"] < 0
    t_cur = rstate["T_cur"] + 1
    wrap = t_cur >= rstate["T_i"]
    t_cur = jnp.where(wrap, t_cur % rstate["T_i"], t_cur)
    t_i = jnp.where(wrap, rstate["T_i"] * self.T_mult, rstate["T_i"])
    rstate = dict(
      rstate,
      last_epoch=rstate["last_epoch"] + 1,
      T_cur=jnp.where(fresh, 0, t_cur),
      T_i=jnp.where(fresh, self.T_0, t_i),
    )
    return rstate, self.get_lr(rstate, dict(group), False)

  def get_lr(self, rstate, group, initial):
    eta_min = f(self.eta_min)
    cos = jnp.cos(math.pi * f(rstate["T_cur"]) / f(rstate["T_i"]))
    return _lr(group, eta_min + (rstate["base"] - eta_min) * (1 + cos) / 2)
