"""`gradtx.transforms`: Optax's `optax.transforms` namespace, a thin re-export.

Every name here is defined on a lower floor (primitives, combinators, wrappers).
"""

# -- combinators
from gradtx.combinators import (
  MaskedState,
  PartitionState,
  chain,
  flatten,
  freeze,
  masked,
  multi_transform,
  named_chain,
  partition,
  selective_transform,
  set_to_zero,
)
from gradtx.core import ConditionFn, MaskedNode, ShouldSkipUpdateFunction
from gradtx.primitives.adaptive import clip_by_block_rms

# -- primitives
from gradtx.primitives.clipping import (
  ClipByGlobalNormState,
  adaptive_grad_clip,
  clip,
  clip_by_global_norm,
  per_example_global_norm_clip,
  per_example_layer_norm_clip,
  unitwise_clip,
  unitwise_norm,
)
from gradtx.primitives.constraints import NonNegativeParamsState, keep_params_nonnegative
from gradtx.primitives.decay import AddDecayedWeightsState, add_decayed_weights
from gradtx.primitives.moments import EmaState, TraceState, ema, trace
from gradtx.primitives.noise import AddNoiseState, add_noise

# -- wrappers
from gradtx.wrappers import (
  ApplyIfFiniteState,
  ConditionallyMaskState,
  ConditionallyTransformState,
  MonitorState,
  MultiSteps,
  MultiStepsState,
  SnapshotState,
  ZeroNansState,
  apply_if_finite,
  conditionally_mask,
  conditionally_transform,
  measure_with_ema,
  monitor,
  skip_large_updates,
  skip_not_finite,
  snapshot,
  zero_nans,
)

__all__ = [
  # -- combinators
  "chain",
  "masked",
  "partition",
  "multi_transform",
  "freeze",
  "set_to_zero",
  "MaskedState",
  "PartitionState",
  "named_chain",
  "selective_transform",
  "flatten",
  "MaskedNode",
  "ShouldSkipUpdateFunction",
  "ConditionFn",
  # -- primitives
  "clip",
  "clip_by_global_norm",
  "ClipByGlobalNormState",
  "clip_by_block_rms",
  "add_decayed_weights",
  "AddDecayedWeightsState",
  "adaptive_grad_clip",
  "per_example_global_norm_clip",
  "per_example_layer_norm_clip",
  "unitwise_clip",
  "unitwise_norm",
  "keep_params_nonnegative",
  "NonNegativeParamsState",
  "add_noise",
  "AddNoiseState",
  "ema",
  "trace",
  "EmaState",
  "TraceState",
  # -- wrappers
  "apply_if_finite",
  "ApplyIfFiniteState",
  "zero_nans",
  "ZeroNansState",
  "MultiSteps",
  "MultiStepsState",
  "skip_not_finite",
  "skip_large_updates",
  "conditionally_mask",
  "conditionally_transform",
  "ConditionallyMaskState",
  "ConditionallyTransformState",
  "monitor",
  "MonitorState",
  "measure_with_ema",
  "snapshot",
  "SnapshotState",
]
