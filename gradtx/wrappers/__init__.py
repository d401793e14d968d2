"""Floor 5, wrappers around a whole transformation: gradient accumulation, finiteness guards.
"""

from gradtx.wrappers.accumulation import (accumulate_gradients, AccumulateState)
from gradtx.wrappers.finite import (apply_if_finite, ApplyIfFiniteState, zero_nans, all_finite)

__all__ = ['accumulate_gradients', 'AccumulateState', 'apply_if_finite', 'ApplyIfFiniteState', 'zero_nans', 'all_finite']
