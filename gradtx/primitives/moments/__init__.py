"""Moments and momentum: heavy-ball/Nesterov trace, EMA, the Adam family, Lion.
"""

from gradtx.primitives.moments.momentum import (trace, ema, TraceState, EmaState)
from gradtx.primitives.moments.adam import (scale_by_adam, scale_by_amsgrad, scale_by_adamax, ScaleByAdamState, ScaleByAmsgradState)
from gradtx.primitives.moments.radam import (scale_by_radam)
from gradtx.primitives.moments.belief import (scale_by_belief, ScaleByBeliefState)
from gradtx.primitives.moments.lion import (scale_by_lion, ScaleByLionState)

__all__ = ['trace', 'ema', 'TraceState', 'EmaState', 'scale_by_adam', 'scale_by_amsgrad', 'scale_by_adamax', 'ScaleByAdamState', 'ScaleByAmsgradState', 'scale_by_radam', 'scale_by_belief', 'ScaleByBeliefState', 'scale_by_lion', 'ScaleByLionState']
