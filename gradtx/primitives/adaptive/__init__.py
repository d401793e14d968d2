"""Adaptive (per-coordinate) scaling: AdaGrad, RMSProp, AdaDelta, factored RMS (Adafactor).
"""

from gradtx.primitives.adaptive.adagrad import (scale_by_rss, ScaleByRssState)
from gradtx.primitives.adaptive.rmsprop import (scale_by_rms, scale_by_stddev, ScaleByRmsState, ScaleByStddevState)
from gradtx.primitives.adaptive.adadelta import (scale_by_adadelta, ScaleByAdaDeltaState)
from gradtx.primitives.adaptive.factored import (scale_by_factored_rms, clip_by_block_rms, scale_by_param_block_rms, FactoredState)

__all__ = ['scale_by_rss', 'ScaleByRssState', 'scale_by_rms', 'scale_by_stddev', 'ScaleByRmsState', 'ScaleByStddevState', 'scale_by_adadelta', 'ScaleByAdaDeltaState', 'scale_by_factored_rms', 'clip_by_block_rms', 'scale_by_param_block_rms', 'FactoredState']
