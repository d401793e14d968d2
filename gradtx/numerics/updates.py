"""`apply_updates`: adds updates to params, keeping each param's dtype."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gradtx.numerics.ops import cast
from gradtx.core.validate import check_arrays, check_same_structure
from gradtx.core.protocol import Params, Updates

__all__ = ["apply_updates"]


def apply_updates(params: Params, updates: Updates) -> Params:
  """`w <- w + u`, leafwise; the result has each param's dtype.

  The sum is computed in the wider of the two dtypes and cast back, so a
  bfloat16 param receiving a float32 update stays bfloat16. `None` params
  stay `None`.
  """
  check_same_structure("params", params, "updates", updates)
  check_arrays(updates, "updates")

  def leaf(p, u):
    if p is None:
      return None
    return cast(jnp.asarray(p + u), jnp.result_type(p))
  return jax.tree.map(leaf, params, updates, is_leaf=lambda x: x is None)
