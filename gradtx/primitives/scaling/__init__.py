"""Scaling by a constant, a schedule or the learning rate, and by norm ratios (trust ratio).
"""

from gradtx.primitives.scaling.scaling import (scale, scale_by_learning_rate, scale_by_schedule, ScaleByScheduleState, ScaleByLearningRateState)
from gradtx.primitives.scaling.trust_ratio import (scale_by_trust_ratio)

__all__ = ['scale', 'scale_by_learning_rate', 'scale_by_schedule', 'ScaleByScheduleState', 'ScaleByLearningRateState', 'scale_by_trust_ratio']
