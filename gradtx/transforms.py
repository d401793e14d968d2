"""`gradtx.transforms`: Optax's `optax.transforms` namespace, a thin re-export.

Every name here is defined on a lower floor (primitives, combinators, wrappers).
"""

# -- combinators
from gradtx.combinators import (chain, masked, partition, multi_transform, freeze, set_to_zero,
                                MaskedState, PartitionState)
from gradtx.combinators import named_chain, selective_transform, flatten
from gradtx.core import MaskedNode, ShouldSkipUpdateFunction, ConditionFn
# -- primitives
from gradtx.primitives.clipping import clip, clip_by_global_norm, ClipByGlobalNormState
from gradtx.primitives.adaptive import clip_by_block_rms
from gradtx.primitives.decay import add_decayed_weights, AddDecayedWeightsState
from gradtx.primitives.clipping import (adaptive_grad_clip, per_example_global_norm_clip,
                                       per_example_layer_norm_clip, unitwise_clip, unitwise_norm)
from gradtx.primitives.constraints import keep_params_nonnegative, NonNegativeParamsState
from gradtx.primitives.noise import add_noise, AddNoiseState
from gradtx.primitives.moments import ema, trace, EmaState, TraceState
# -- wrappers
from gradtx.wrappers import apply_if_finite, ApplyIfFiniteState, zero_nans
from gradtx.wrappers import (ZeroNansState, MultiSteps, MultiStepsState, skip_not_finite,
                             skip_large_updates, conditionally_mask, conditionally_transform,
                             ConditionallyMaskState, ConditionallyTransformState, monitor,
                             MonitorState, measure_with_ema, snapshot, SnapshotState)

__all__ = [
    # -- combinators
    "chain", "masked", "partition", "multi_transform", "freeze", "set_to_zero",
    "MaskedState", "PartitionState",
    "named_chain", "selective_transform", "flatten", "MaskedNode", "ShouldSkipUpdateFunction",
    "ConditionFn",
    # -- primitives
    "clip", "clip_by_global_norm", "ClipByGlobalNormState", "clip_by_block_rms",
    "add_decayed_weights", "AddDecayedWeightsState",
    "adaptive_grad_clip", "per_example_global_norm_clip", "per_example_layer_norm_clip",
    "unitwise_clip", "unitwise_norm", "keep_params_nonnegative", "NonNegativeParamsState",
    "add_noise", "AddNoiseState", "ema", "trace", "EmaState", "TraceState",
    # -- wrappers
    "apply_if_finite", "ApplyIfFiniteState", "zero_nans",
    "ZeroNansState", "MultiSteps", "MultiStepsState", "skip_not_finite", "skip_large_updates",
    "conditionally_mask", "conditionally_transform", "ConditionallyMaskState",
    "ConditionallyTransformState", "monitor", "MonitorState", "measure_with_ema", "snapshot",
    "SnapshotState",
]
