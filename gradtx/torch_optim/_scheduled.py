"""An optimizer whose hyperparameters a `torch.optim.lr_scheduler` port steps.

`Scheduled(optimizer, rule)` keeps PyTorch's param-group values (`lr`,
`initial_lr`, and `momentum` -- beta1 for the Adam family) in its state.
Each `update` runs the optimizer with the current values and then steps the
rule once, exactly as `optimizer.step(); scheduler.step()` does in PyTorch,
so the k-th `update` uses what PyTorch's k-th `optimizer.step()` uses.
A rule is PyTorch's scheduler written with `jnp` (`jnp.where` for its
branches), so everything runs under `jax.jit`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import Module, static
from gradtx.core.named import NamedOptimizer
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import safe_increment, scalar_dtype, zero_count
from gradtx.schedules import epoch_schedule

__all__ = [
  "Rule",
  "LRRule",
  "Scheduled",
  "ScheduledState",
  "build",
  "check_int",
  "last_lr",
  "f",
  "integer",
]


def f(x: Any) -> jax.Array:
  """A scheduler number as a scalar of the scalar dtype (float64 in x64 mode)."""
  return jnp.asarray(x, scalar_dtype())


def integer(x: Any) -> jax.Array:
  return jnp.asarray(x, jnp.int32)


def select(pred: jax.typing.ArrayLike, a: Any, b: Any) -> Any:
  """`a` where `pred` else `b`, leaf by leaf over two trees of one structure."""
  return jax.tree.map(lambda x, y: jnp.where(pred, x, y), a, b)


class Rule(Module):
  """One PyTorch scheduler as pure functions of `(rule_state, group)`."""

  cycles_momentum = False

  def construct(self, group: dict) -> tuple[dict, dict]:
    """PyTorch's constructor, including its initial step."""
    raise NotImplementedError

  def step(self, rstate: dict, group: dict, value: Any) -> tuple[dict, dict]:
    """PyTorch's `scheduler.step()` (`value`: the metric of `ReduceLROnPlateau`)."""
    raise NotImplementedError

  def initial_step(self, rstate: dict, group: dict) -> tuple[dict, dict]:
    """`scheduler._initial_step()`, as `SequentialLR` calls it."""
    raise NotImplementedError(f"{type(self).__name__} cannot be inside SequentialLR")

  def restart(self, rstate: dict, group: dict) -> tuple[dict, dict]:
    """`scheduler._update_lr(0)`, as `SequentialLR` calls it at a milestone."""
    raise NotImplementedError(f"{type(self).__name__} cannot be inside SequentialLR")

  def undo(self, rstate: dict) -> dict:
    """`last_epoch -= 1`, as `SequentialLR`'s constructor does (`recursive_undo`)."""
    raise NotImplementedError(f"{type(self).__name__} cannot be inside SequentialLR")


class LRRule(Rule):
  """PyTorch's `LRScheduler`: `last_epoch`, `base_lrs = initial_lr`, `get_lr()`
  (the chainable form, on the current group) and, where PyTorch has one,
  `_get_closed_form_lr()`."""

  def construct(self, group, last_epoch=-1):
    group = dict(group)
    group.setdefault("initial_lr", group["lr"])
    rstate = {"last_epoch": integer(last_epoch), "base": group["initial_lr"]}
    return self.initial_step(rstate, group)

  def initial_step(self, rstate, group):
    rstate = dict(rstate, last_epoch=rstate["last_epoch"] + 1)
    return rstate, self.get_lr(rstate, dict(group), True)

  def step(self, rstate, group, value=None):
    del value
    rstate = dict(rstate, last_epoch=rstate["last_epoch"] + 1)
    return rstate, self.get_lr(rstate, dict(group), False)

  def restart(self, rstate, group):
    rstate = dict(rstate, last_epoch=integer(0))
    closed = self.closed_form(rstate, dict(group))
    return rstate, closed if closed is not None else self.get_lr(rstate, dict(group), False)

  def undo(self, rstate):
    return dict(rstate, last_epoch=rstate["last_epoch"] - 1)

  def get_lr(self, rstate: dict, group: dict, initial: bool) -> dict:
    """The group after `get_lr()` at `rstate['last_epoch']` (`initial`: in `_initial_step`)."""
    raise NotImplementedError

  def closed_form(self, rstate: dict, group: dict) -> dict | None:
    return None


class ScheduledState(NamedTuple):
  r"""The state of `Scheduled`: `count` $k$, the updates done; `hyperparams` $h_k$,
  PyTorch's param-group values the next update uses ($\eta_k$ = `lr`, `initial_lr`,
  `momentum`); `rule_state`, the scheduler's own (`last_epoch`, ...); `inner_state`, the
  optimizer's.

  Defaults: none, a state record (its fields are PyTorch's `param_groups[0]` and
  `scheduler.state_dict()`).
  """

  count: jax.Array
  hyperparams: dict
  rule_state: Any
  inner_state: Any


def _keys(optimizer: Any, owner: str) -> tuple[str, str | None]:
  if not isinstance(optimizer, NamedOptimizer):
    kind = (
      "a scheduled optimizer; combine schedulers with ChainedScheduler or SequentialLR"
      if isinstance(optimizer, Scheduled)
      else type(optimizer).__name__
    )
    raise TypeError(
      f"{owner}: optimizer must be a gradtx.torch_optim (or named gradtx) optimizer, got {kind}."
    )
  args = optimizer.arguments()
  lr_key = next((k for k in ("lr", "learning_rate") if k in args), None)
  if lr_key is None or callable(args[lr_key]):
    raise TypeError(f"{owner}: the optimizer needs a numeric lr (not a schedule) to be scheduled.")
  momentum_key = next((k for k in ("momentum", "betas", "b1") if k in args), None)
  return lr_key, momentum_key


class Scheduled(GradientTransformation):
  r"""`optimizer` run with the values `rule` schedules: PyTorch's
  `optimizer.step(); scheduler.step()` as one `update`.

  With $h_k$ the param-group values in the state ($\eta_k$ = `lr`, `initial_lr`, and the
  momentum or beta1 where the rule cycles it) and $R$ the rule's step:

  $$
  u_k = \mathrm{opt}(h_k).\mathrm{update}(g_k), \qquad
  h_{k+1} = \begin{cases} R(h_k) & \text{the update ends an epoch}, \\
    h_k & \text{otherwise,} \end{cases}
  $$

  every update ending an epoch unless `steps_per_epoch` $= n$ (then updates
  $n, 2n, \dots$; the clock is `gradtx.epoch_schedule(identity, n)`). `last_epoch >= 0`
  with `initial_lr` is PyTorch's resuming constructor (see `lr_scheduler`).

  Defaults: `steps_per_epoch=None`, `last_epoch=-1`, `initial_lr=None` (PyTorch's
  `LRScheduler` starts at `last_epoch=-1`; the schedulers' constructors set these).
  """

  optimizer: Any
  rule: Rule
  steps_per_epoch: Any = static(default=None)
  last_epoch: int = static(default=-1)
  initial_lr: Any = None

  def keys(self) -> tuple[str, str | None]:
    return _keys(self.optimizer, type(self.rule).__name__)

  def initial_group(self) -> dict:
    lr_key, momentum_key = self.keys()
    args = self.optimizer.arguments()
    group = {"lr": f(args[lr_key])}
    if momentum_key is not None and args[momentum_key] is not None:
      m = args[momentum_key]
      group["momentum"] = f(m[0] if momentum_key == "betas" else m)
    return group

  def inner(self, group: dict) -> GradientTransformation:
    lr_key, momentum_key = self.keys()
    args = dict(self.optimizer.arguments())
    args[lr_key] = group["lr"]
    if self.rule.cycles_momentum:
      if momentum_key == "betas":
        args["betas"] = (group["momentum"], args["betas"][1])
      else:
        args[momentum_key] = group["momentum"]
    return self.optimizer.build(**args)

  def init(self, params):
    if self.last_epoch == -1:
      rstate, group = self.rule.construct(self.initial_group())
    else:  # PyTorch's resume: base_lrs from initial_lr, one initial step to last_epoch + 1
      group = dict(self.initial_group(), initial_lr=f(self.initial_lr))
      assert isinstance(self.rule, LRRule)  # only _RESUMABLE schedulers get here
      rstate, group = self.rule.construct(group, self.last_epoch)
    return ScheduledState(zero_count(), group, rstate, self.inner(group).init(params))

  def update(self, updates, state, params=None, **extra_args):
    updates, inner_state = self.inner(state.hyperparams).update(
      updates, state.inner_state, params, **extra_args
    )
    rstate, group = self.rule.step(state.rule_state, state.hyperparams, extra_args.get("value"))
    if self.steps_per_epoch is not None:
      epoch = epoch_schedule(lambda e: e, self.steps_per_epoch)
      ends = epoch(safe_increment(state.count)) > epoch(state.count)
      rstate = select(ends, rstate, state.rule_state)
      group = select(ends, group, state.hyperparams)
    return updates, ScheduledState(safe_increment(state.count), group, rstate, inner_state)


def last_lr(state: ScheduledState) -> jax.Array:
  r"""PyTorch's `scheduler.get_last_lr()[0]`: $\eta_k$ = `state.hyperparams["lr"]`, the
  rate the next update uses.

  Defaults: none (torch.optim.lr_scheduler's `get_last_lr`).

  Args:
    state: a `ScheduledState`.
  """
  return state.hyperparams["lr"]


_RESUMABLE = {
  "LambdaLR",
  "MultiplicativeLR",
  "StepLR",
  "MultiStepLR",
  "ConstantLR",
  "LinearLR",
  "ExponentialLR",
  "PolynomialLR",
  "CosineAnnealingLR",
}


def build(
  owner: str,
  optimizer: Any,
  rule: Rule,
  last_epoch: int,
  steps_per_epoch: Any,
  initial_lr: Any = None,
) -> Scheduled:
  r"""`Scheduled(optimizer, rule)` after PyTorch's checks: the rule's rate $\eta_e$ drives
  the optimizer's `lr` (see `Scheduled`); `last_epoch >= 0` with `initial_lr` resumes as
  PyTorch's constructor does, at epoch `last_epoch + 1` (see `lr_scheduler`).

  Defaults: none (the schedulers pass PyTorch's `last_epoch=-1`, torch.optim.lr_scheduler).

  Args:
    owner: the scheduler's name, for messages.
    optimizer: a named optimizer with a numeric `lr`.
    rule: the scheduler's `Rule`.
    last_epoch: -1, or the epoch to resume after.
    steps_per_epoch: updates per scheduler step (None: one).
    initial_lr: $\eta_0$ when resuming.
  """
  _keys(optimizer, owner)
  if not isinstance(last_epoch, int) or isinstance(last_epoch, bool) or last_epoch < -1:
    raise ValueError(f"{owner}: last_epoch={last_epoch!r} is invalid; expected an integer >= -1.")
  if last_epoch != -1 and owner not in _RESUMABLE:
    raise ValueError(
      f"{owner}: last_epoch={last_epoch!r} is not supported: PyTorch resumes it from "
      "param-group keys and counters it also keeps in scheduler.state_dict(); resume by "
      "restoring the saved gradtx state instead (docs/porting_from_pytorch.md)."
    )
  if last_epoch != -1 and initial_lr is None:
    raise ValueError(
      f"{owner}: param 'initial_lr' is not specified when resuming with last_epoch="
      f"{last_epoch}; pass initial_lr= (PyTorch's param_groups[0]['initial_lr'], the "
      "lr the schedule started from; the optimizer's lr is the group's current lr)."
    )
  if last_epoch == -1 and initial_lr is not None:
    raise ValueError(f"{owner}: initial_lr= is only read when resuming with last_epoch >= 0.")
  if steps_per_epoch is not None:
    _checks.positive_integer(owner, "steps_per_epoch", steps_per_epoch)
  if rule.cycles_momentum and _keys(optimizer, owner)[1] is None:
    raise ValueError(
      f"{owner}: optimizer must support momentum or beta1 with `cycle_momentum` option enabled"
    )
  return Scheduled(
    optimizer, rule, steps_per_epoch=steps_per_epoch, last_epoch=last_epoch, initial_lr=initial_lr
  )


def check_int(owner: str, name: str, value: Any, minimum: int) -> None:
  if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
    raise ValueError(f"{owner}: {name}={value!r} is invalid; expected an integer >= {minimum}.")
