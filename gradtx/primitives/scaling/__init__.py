"""Scaling by a constant, a schedule or the learning rate, and by norm ratios (trust ratio)."""

from gradtx.primitives.scaling.scaling import (
  scale,
  scale_by_learning_rate,
  scale_by_schedule,
  ScaleByScheduleState,
  ScaleByLearningRateState,
)
from gradtx.primitives.scaling.trust_ratio import scale_by_trust_ratio
from gradtx.primitives.scaling.precision import compensated_updates, CompensatedUpdatesState
from gradtx.primitives.scaling.asgd import scale_by_asgd, ScaleByAsgdState, asgd_average

from gradtx.primitives.scaling.param_norm import (
  scale_by_param_block_norm,
  fromage_step,
  ScaleState,
  ScaleByTrustRatioState,
)

__all__ = [
  'scale',
  'scale_by_learning_rate',
  'scale_by_schedule',
  'ScaleByScheduleState',
  'ScaleByLearningRateState',
  'scale_by_trust_ratio',
  'compensated_updates',
  'CompensatedUpdatesState',
  'scale_by_param_block_norm',
  'fromage_step',
  'ScaleState',
  'ScaleByTrustRatioState',
  'scale_by_asgd',
  'ScaleByAsgdState',
  'asgd_average',
]
