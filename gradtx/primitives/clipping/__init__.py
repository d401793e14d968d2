"""Clipping: elementwise, by global norm, unit-wise (AGC), per example."""

from gradtx.primitives.clipping.clipping import (
  clip,
  clip_by_global_norm,
  global_norm,
  ClipByGlobalNormState,
)
from gradtx.primitives.clipping.p_norm import clip_by_global_p_norm, global_p_norm

from gradtx.primitives.clipping.unitwise import (
  adaptive_grad_clip,
  unitwise_clip,
  unitwise_norm,
  AdaptiveGradClipState,
  ClipState,
)
from gradtx.primitives.clipping.per_example import (
  per_example_global_norm_clip,
  per_example_layer_norm_clip,
)

__all__ = [
  'clip',
  'clip_by_global_norm',
  'global_norm',
  'ClipByGlobalNormState',
  'adaptive_grad_clip',
  'unitwise_clip',
  'unitwise_norm',
  'AdaptiveGradClipState',
  'ClipState',
  'per_example_global_norm_clip',
  'per_example_layer_norm_clip',
  'clip_by_global_p_norm',
  'global_p_norm',
]
