"""Constraints and normalizations of updates or params (centralize, non-negative params,
normalize by update norm, scaled gradients)."""

from gradtx.primitives.constraints.normalize import centralize, normalize_by_update_norm
from gradtx.primitives.constraints.nonnegative import (
  keep_params_nonnegative,
  NonNegativeParamsState,
)
from gradtx.primitives.constraints.gradient_scaling import scale_gradient

__all__ = [
  'centralize',
  'normalize_by_update_norm',
  'keep_params_nonnegative',
  'NonNegativeParamsState',
  'scale_gradient',
]
