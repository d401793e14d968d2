"""`torch.nn.utils.clip_grad_norm_` and `clip_grad_value_` as transformations."""

from __future__ import annotations

from typing import Any

from gradtx.primitives.clipping.clipping import Clip, clip
from gradtx.primitives.clipping.p_norm import ClipByGlobalPNorm, clip_by_global_p_norm

__all__ = ["clip_grad_norm", "clip_grad_value"]

_TORCH_NORM_EPS = 1e-6  # torch.nn.utils.clip_grad_norm_ divides by (total_norm + 1e-6)


def clip_grad_norm(
  max_norm: Any, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach: Any = None
) -> ClipByGlobalPNorm:
  """`torch.nn.utils.clip_grad_norm_`: `g <- g * min(1, max_norm / (||g||_p + 1e-6))`
  over all leaves together (`norm_type=inf`: the largest `|g|`). Place it first
  in a chain, before the optimizer, where PyTorch calls it. A non-finite norm
  cannot raise inside `jit`: wrap the chain in `gradtx.apply_if_finite` instead
  of `error_if_nonfinite=True`."""
  del foreach
  if error_if_nonfinite:
    raise ValueError(
      "clip_grad_norm: error_if_nonfinite=True cannot raise inside jit; "
      "use gradtx.apply_if_finite(chain(...), max_consecutive_errors) instead."
    )
  return clip_by_global_p_norm(max_norm, norm_type, _TORCH_NORM_EPS)


def clip_grad_value(clip_value: Any, foreach: Any = None) -> Clip:
  """`torch.nn.utils.clip_grad_value_`: `g <- clamp(g, -clip_value, clip_value)`."""
  del foreach
  return clip(clip_value)
