"""Floor 3, schedules: pytrees of their parameters, called with the step count, and
their injection into a transformation's state (Optax's `optax.schedules` namespace).
"""

from gradtx.schedules.base import Schedule, ScheduleArgumentWarning
from gradtx.schedules.polynomial import constant_schedule, linear_schedule, polynomial_schedule
from gradtx.schedules.exponential import exponential_decay, inverse_time_decay, inverse_sqrt_decay
from gradtx.schedules.cosine import cosine_decay_schedule
from gradtx.schedules.piecewise import (
  piecewise_constant_schedule,
  piecewise_interpolate_schedule,
  join_schedules,
  epoch_schedule,
)
from gradtx.schedules.warmup import (
  warmup_constant_schedule,
  warmup_cosine_decay_schedule,
  warmup_exponential_decay_schedule,
)
from gradtx.schedules.cycles import (
  linear_onecycle_schedule,
  cosine_onecycle_schedule,
  sgdr_schedule,
)
from gradtx.schedules.stateful import StatefulSchedule, WrappedSchedule, WrappedScheduleState
from gradtx.schedules.inject import (
  inject_hyperparams,
  inject_stateful_hyperparams,
  InjectHyperparamsState,
  InjectStatefulHyperparamsState,
)

__all__ = [
  'Schedule',
  'ScheduleArgumentWarning',
  'constant_schedule',
  'linear_schedule',
  'polynomial_schedule',
  'exponential_decay',
  'inverse_time_decay',
  'inverse_sqrt_decay',
  'cosine_decay_schedule',
  'piecewise_constant_schedule',
  'piecewise_interpolate_schedule',
  'join_schedules',
  'epoch_schedule',
  'warmup_constant_schedule',
  'warmup_cosine_decay_schedule',
  'warmup_exponential_decay_schedule',
  'linear_onecycle_schedule',
  'cosine_onecycle_schedule',
  'sgdr_schedule',
  'StatefulSchedule',
  'WrappedSchedule',
  'WrappedScheduleState',
  'inject_hyperparams',
  'inject_stateful_hyperparams',
  'InjectHyperparamsState',
  'InjectStatefulHyperparamsState',
]
