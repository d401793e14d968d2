"""`scale_gradient`: the identity forward, the gradient scaled backward."""

from __future__ import annotations

from typing import Any

import jax

from gradtx.core.checks import concrete

__all__ = ["scale_gradient"]


def scale_gradient(inputs: Any, scale: Any) -> Any:
  """Returns `inputs` unchanged; gradients flowing back through it are multiplied by
  `scale` (0 stops them). Per leaf: `x' = sg(x) + scale (x - sg(x))`, which equals `x`
  exactly and has derivative `scale`; `scale` may be traced."""
  value = concrete(scale)
  if value is not None and value.ndim == 0 and value == 1:
    return inputs
  if value is not None and value.ndim == 0 and value == 0:
    return jax.lax.stop_gradient(inputs)

  def leaf(x):
    frozen = jax.lax.stop_gradient(x)
    return frozen + scale * (x - frozen)

  return jax.tree.map(leaf, inputs)
