"""`apply_updates` (adds updates to params, keeping each param's dtype) and the two ways
of refreshing a slow copy of the params: Polyak averaging and periodic copies."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx.core.protocol import Params, Updates
from gradtx.core.validate import check_arrays, check_same_structure
from gradtx.numerics.leafwise import tree_map_like
from gradtx.numerics.ops import cast

__all__ = ["apply_updates", "incremental_update", "periodic_update"]


def apply_updates(params: Params, updates: Updates) -> Params:
  """`w <- w + u`, leafwise; the result has each param's dtype.

  The sum is computed in the wider of the two dtypes and cast back, so a
  bfloat16 param receiving a float32 update stays bfloat16. `None` params
  (masked-out leaves, or `params=None`) stay `None`.
  """
  if jax.tree.structure(params) == jax.tree.structure(updates):
    check_same_structure("params", params, "updates", updates)
  check_arrays(updates, "updates")
  # A `None` param (or a `None` params tree) is a leaf that stays `None`.
  return tree_map_like(
    lambda p, u: cast(jnp.asarray(p + u), jnp.result_type(p)),
    ("params", "updates"),
    (params, updates),
    none_leaf=True,
  )


def incremental_update(new_tensors: Params, old_tensors: Params, step_size: Any) -> Params:
  """Polyak averaging: `old <- step_size * new + (1 - step_size) * old`, leafwise.

  `None` leaves of `new_tensors` stay `None`. Reference: Polyak & Juditsky
  (1992), as in Optax.
  """
  return tree_map_like(
    lambda new, old: step_size * new + (1.0 - step_size) * old,
    ("new_tensors", "old_tensors"),
    (new_tensors, old_tensors),
    none_leaf=True,
  )


def periodic_update(
  new_tensors: Params, old_tensors: Params, steps: Any, update_period: Any
) -> Params:
  """`new_tensors` when `steps % update_period == 0`, else `old_tensors` (a target
  network refreshed every `update_period` steps; Mnih et al. 2015, Grill et al. 2020).

  Works with traced `steps` (a `lax.cond`); both trees must have one structure.
  """
  check_same_structure("new_tensors", new_tensors, "old_tensors", old_tensors)
  return jax.lax.cond(jnp.mod(steps, update_period) == 0, lambda: new_tensors, lambda: old_tensors)
