"""Adaptive (per-coordinate) scaling: AdaGrad, RMSProp, AdaDelta, factored RMS (Adafactor)."""

from gradtx.primitives.adaptive.adagrad import scale_by_rss, ScaleByRssState
from gradtx.primitives.adaptive.rmsprop import (
  scale_by_rms,
  scale_by_stddev,
  ScaleByRmsState,
  ScaleByStddevState,
)
from gradtx.primitives.adaptive.adadelta import scale_by_adadelta, ScaleByAdaDeltaState
from gradtx.primitives.adaptive.factored import (
  scale_by_factored_rms,
  clip_by_block_rms,
  scale_by_param_block_rms,
  FactoredState,
)

from gradtx.primitives.adaptive.rmsprop import (
  ScaleByStddevState as ScaleByRStdDevState,
)  # Optax's name
from gradtx.primitives.adaptive.sm3 import scale_by_sm3, ScaleBySM3State
from gradtx.primitives.adaptive.novograd import scale_by_novograd, ScaleByNovogradState
from gradtx.primitives.adaptive.resilient import scale_by_rprop, ScaleByRpropState
from gradtx.primitives.adaptive.dog import (
  scale_by_distance_over_gradients,
  ScaleByDistanceOverGradientsState,
)

__all__ = [
  'scale_by_rss',
  'ScaleByRssState',
  'scale_by_rms',
  'scale_by_stddev',
  'ScaleByRmsState',
  'ScaleByStddevState',
  'scale_by_adadelta',
  'ScaleByAdaDeltaState',
  'scale_by_factored_rms',
  'clip_by_block_rms',
  'scale_by_param_block_rms',
  'FactoredState',
  'ScaleByRStdDevState',
  'scale_by_sm3',
  'ScaleBySM3State',
  'scale_by_novograd',
  'ScaleByNovogradState',
  'scale_by_rprop',
  'ScaleByRpropState',
  'scale_by_distance_over_gradients',
  'ScaleByDistanceOverGradientsState',
]
