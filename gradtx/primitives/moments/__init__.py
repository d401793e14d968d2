"""Moments and momentum: heavy-ball/Nesterov trace, EMA, the Adam family, Lion."""

from gradtx.primitives.moments.momentum import trace, ema, TraceState, EmaState
from gradtx.primitives.moments.adam import (
  scale_by_adam,
  scale_by_amsgrad,
  scale_by_adamax,
  ScaleByAdamState,
  ScaleByAmsgradState,
)
from gradtx.primitives.moments.radam import scale_by_radam
from gradtx.primitives.moments.belief import scale_by_belief, ScaleByBeliefState
from gradtx.primitives.moments.lion import scale_by_lion, ScaleByLionState
from gradtx.primitives.moments.dampened import dampened_trace, DampenedTraceState
from gradtx.primitives.moments.nadam import scale_by_nadam, ScaleByNadamState

from gradtx.primitives.moments.yogi import scale_by_yogi
from gradtx.primitives.moments.adan import scale_by_adan, ScaleByAdanState
from gradtx.primitives.moments.optimistic import (
  scale_by_optimistic_gradient,
  ScaleByOptimisticGradientState,
)
from gradtx.primitives.moments.sign import scale_by_sign
from gradtx.primitives.moments.mars import scale_by_mars, ScaleByMarsState
from gradtx.primitives.moments.laprop import scale_by_laprop

__all__ = [
  'trace',
  'ema',
  'TraceState',
  'EmaState',
  'scale_by_adam',
  'scale_by_amsgrad',
  'scale_by_adamax',
  'ScaleByAdamState',
  'ScaleByAmsgradState',
  'scale_by_radam',
  'scale_by_belief',
  'ScaleByBeliefState',
  'scale_by_lion',
  'ScaleByLionState',
  'scale_by_yogi',
  'scale_by_adan',
  'ScaleByAdanState',
  'scale_by_optimistic_gradient',
  'ScaleByOptimisticGradientState',
  'scale_by_sign',
  'dampened_trace',
  'DampenedTraceState',
  'scale_by_nadam',
  'ScaleByNadamState',
  'scale_by_mars',
  'ScaleByMarsState',
  'scale_by_laprop',
]
