"""`gradtx.transforms`: Optax's `optax.transforms` namespace, a thin re-export.

Every name here is defined on a lower floor (primitives, combinators, wrappers).
"""

# -- combinators
from gradtx.combinators import (chain, masked, partition, multi_transform, freeze, set_to_zero,
                                MaskedState, PartitionState)
# -- primitives
from gradtx.primitives.clipping import clip, clip_by_global_norm, ClipByGlobalNormState
from gradtx.primitives.adaptive import clip_by_block_rms
from gradtx.primitives.decay import add_decayed_weights, AddDecayedWeightsState
# -- wrappers
from gradtx.wrappers import apply_if_finite, ApplyIfFiniteState, zero_nans

__all__ = [
    # -- combinators
    "chain", "masked", "partition", "multi_transform", "freeze", "set_to_zero",
    "MaskedState", "PartitionState",
    # -- primitives
    "clip", "clip_by_global_norm", "ClipByGlobalNormState", "clip_by_block_rms",
    "add_decayed_weights", "AddDecayedWeightsState",
    # -- wrappers
    "apply_if_finite", "ApplyIfFiniteState", "zero_nans",
]
