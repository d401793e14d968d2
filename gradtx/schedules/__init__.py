"""Floor 3, schedules: pytrees of their parameters, called with the step count (Optax's
`optax.schedules` namespace).
"""

from gradtx.schedules.standard import (Schedule, constant_schedule, linear_schedule, polynomial_schedule, exponential_decay, inverse_time_decay, inverse_sqrt_decay, piecewise_constant_schedule, cosine_decay_schedule, warmup_cosine_decay_schedule, join_schedules, epoch_schedule)

__all__ = ['Schedule', 'constant_schedule', 'linear_schedule', 'polynomial_schedule', 'exponential_decay', 'inverse_time_decay', 'inverse_sqrt_decay', 'piecewise_constant_schedule', 'cosine_decay_schedule', 'warmup_cosine_decay_schedule', 'join_schedules', 'epoch_schedule']
