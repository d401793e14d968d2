"""Stateful schedules (Optax's protocol): `init() -> state`, `update(state, **extra_args)
-> state`, `schedule(state, **extra_args) -> value`; a step-count schedule is one
through `WrappedSchedule`, whose state is the count."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, runtime_checkable

import jax

from gradtx.core.module import Module
from gradtx.numerics.ops import safe_increment, zero_count

__all__ = ["StatefulSchedule", "WrappedSchedule", "WrappedScheduleState"]


@runtime_checkable
class StatefulSchedule(Protocol):
  """A schedule whose value depends on a state it updates from the extra arguments
  of `update` (e.g. a loss), as in Optax."""

  def init(self) -> Any:
    """The initial schedule state."""

  def update(self, state: Any, **extra_args: Any) -> Any:
    """The state after one step."""

  def __call__(self, state: Any, **extra_args: Any) -> jax.Array:
    """The value for the step about to be taken."""
    ...


class WrappedScheduleState(NamedTuple):
  """`count`: the steps done (int32)."""

  count: jax.Array


class WrappedSchedule(Module):
  """`schedule_fn(count)` as a stateful schedule whose state is the step count; a
  gradtx schedule stays a pytree of its numbers inside it."""

  schedule_fn: Callable

  def init(self) -> WrappedScheduleState:
    return WrappedScheduleState(zero_count())

  def update(self, state: WrappedScheduleState, **extra_args: Any) -> WrappedScheduleState:
    del extra_args
    return WrappedScheduleState(safe_increment(state.count))

  def __call__(self, state: WrappedScheduleState, **extra_args: Any) -> jax.Array:
    del extra_args
    return self.schedule_fn(state.count)


def is_stateful(value: Any) -> bool:
  """Whether `value` follows the stateful-schedule protocol (duck-typed, so Optax's
  own stateful schedules count too)."""
  return (
    callable(value)
    and callable(getattr(value, "init", None))
    and callable(getattr(value, "update", None))
  )


def as_stateful(value: Callable) -> Any:
  """`value` itself if it is a stateful schedule, else `WrappedSchedule(value)`."""
  return value if is_stateful(value) else WrappedSchedule(value)
