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
  r"""`torch.nn.utils.clip_grad_norm_` as a transformation.

  $$
  n = \Big(\sum_{\text{leaves}} \sum |g|^p\Big)^{1/p} \quad
  (\max |g| \text{ for } p = \infty), \qquad
  g \leftarrow g \min\Big(1, \frac{c}{n + 10^{-6}}\Big),
  $$

  with $c$ = `max_norm`, $p$ = `norm_type`, over all leaves together
  (`clip_by_global_p_norm(max_norm, norm_type, 1e-6)`). Place it first in a chain, before
  the optimizer, where PyTorch calls it. A non-finite norm cannot raise inside `jit`:
  wrap the chain in `gradtx.apply_if_finite` instead of `error_if_nonfinite=True`.

  Defaults: `norm_type=2.0`, `error_if_nonfinite=False` (torch.nn.utils.clip_grad_norm_,
  PyTorch 2.x; its $10^{-6}$ in the denominator is fixed).

  Args:
    max_norm: $c$.
    norm_type: $p$ (`float("inf")` for the max norm).
    error_if_nonfinite: must be False (raises otherwise, see above).
    foreach: PyTorch's kernel choice; accepted, changes nothing.
  """
  del foreach
  if error_if_nonfinite:
    raise ValueError(
      "clip_grad_norm: error_if_nonfinite=True cannot raise inside jit; "
      "use gradtx.apply_if_finite(chain(...), max_consecutive_errors) instead."
    )
  return clip_by_global_p_norm(max_norm, norm_type, _TORCH_NORM_EPS)


def clip_grad_value(clip_value: Any, foreach: Any = None) -> Clip:
  r"""`torch.nn.utils.clip_grad_value_` as a transformation: elementwise
  $g \leftarrow \min(\max(g, -c), c)$ with $c$ = `clip_value` (`gradtx.clip`).

  Defaults: none but `foreach=None` (torch.nn.utils.clip_grad_value_, PyTorch 2.x).

  Args:
    clip_value: $c$.
    foreach: PyTorch's kernel choice; accepted, changes nothing.
  """
  del foreach
  return clip(clip_value)
