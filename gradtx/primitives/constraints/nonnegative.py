"""Keeping parameters non-negative."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gradtx.core.protocol import EmptyState, StatelessTransformation
from gradtx.primitives.decay.weight_decay import require_params

__all__ = ["KeepParamsNonnegative", "NonNegativeParamsState", "keep_params_nonnegative"]

NonNegativeParamsState = EmptyState  # Optax's name for the (empty) state


class KeepParamsNonnegative(StatelessTransformation):
  """`u = -w` where `w + u < 0`, else `u`: after `apply_updates` every parameter is
  `>= 0` (a negative parameter is moved to 0). The last stage of a chain."""

  def update(self, updates, state, params=None, **extra_args):
    del extra_args
    require_params("keep_params_nonnegative", params, updates)

    def leaf(u, p):
      if u is None:
        return None
      return jnp.where(p + u < 0, -p, u).astype(u.dtype)

    return jax.tree.map(leaf, updates, params, is_leaf=lambda x: x is None), state


def keep_params_nonnegative() -> KeepParamsNonnegative:
  r"""Clips updates so that the parameters stay non-negative.

  $$
  u_t = \begin{cases} -w_{t-1} & w_{t-1} + g_t < 0, \\ g_t & \text{otherwise}, \end{cases}
  $$

  so after `apply_updates` every parameter is $\ge 0$ (a negative one is moved to 0).
  The last stage of a chain.

  Defaults: none (no arguments; Optax's `keep_params_nonnegative`).
  """
  return KeepParamsNonnegative()
