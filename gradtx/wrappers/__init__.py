"""Floor 5, wrappers around a whole transformation: gradient accumulation (`accumulate_gradients`,
`MultiSteps`, `apply_every`), finiteness guards, conditional steps, lookahead, monitoring.
"""

from gradtx.wrappers.accumulation import (
  accumulate_gradients,
  AccumulateState,
  apply_every,
  ApplyEvery,
)
from gradtx.wrappers.finite import (
  apply_if_finite,
  ApplyIfFiniteState,
  zero_nans,
  ZeroNansState,
  all_finite,
)
from gradtx.wrappers.multi_steps import (
  MultiSteps,
  MultiStepsState,
  skip_not_finite,
  skip_large_updates,
)
from gradtx.wrappers.conditional import (
  conditionally_transform,
  conditionally_mask,
  ConditionallyTransformState,
  ConditionallyMaskState,
)
from gradtx.wrappers.lookahead import lookahead, LookaheadParams, LookaheadState
from gradtx.wrappers.monitoring import (
  monitor,
  MonitorState,
  measure_with_ema,
  snapshot,
  SnapshotState,
)
from gradtx.wrappers.cautious import cautious, Cautious
from gradtx.wrappers.averaging import (
  ema_params,
  swa,
  polynomial_averaging,
  averaged_params,
  AveragedParamsState,
)

__all__ = [
  'accumulate_gradients',
  'AccumulateState',
  'apply_every',
  'ApplyEvery',
  'apply_if_finite',
  'ApplyIfFiniteState',
  'zero_nans',
  'ZeroNansState',
  'all_finite',
  'MultiSteps',
  'MultiStepsState',
  'skip_not_finite',
  'skip_large_updates',
  'conditionally_transform',
  'conditionally_mask',
  'ConditionallyTransformState',
  'ConditionallyMaskState',
  'lookahead',
  'LookaheadParams',
  'LookaheadState',
  'monitor',
  'MonitorState',
  'measure_with_ema',
  'snapshot',
  'SnapshotState',
  'cautious',
  'Cautious',
  'ema_params',
  'swa',
  'polynomial_averaging',
  'averaged_params',
  'AveragedParamsState',
]
