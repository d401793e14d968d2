"""Weight decay: `add_decayed_weights` (coupled or, after Adam's scaling, decoupled)."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation
from gradtx.core.validate import check_same_structure
from gradtx.numerics.ops import cast, compute_dtype, hyper, safe_increment, scalar_dtype, zero_count
from gradtx.primitives.scaling.scaling import evaluate
from gradtx.tree_utils import masks as _masks

__all__ = ["AddDecayedWeights", "AddDecayedWeightsState", "add_decayed_weights", "require_params"]


def require_params(owner: str, params: Any, updates: Any = None) -> None:
  """Raises a clear error when a transformation that needs `params` lacks them,
  or gets params that do not match the updates leaf for leaf."""
  if params is None:
    raise ValueError(
      f"{owner} needs the current parameters: call update(updates, state, params=params)."
    )
  if updates is not None:
    check_same_structure("the updates", updates, "params", params)


class AddDecayedWeightsState(NamedTuple):
  """`count`: steps done (for a scheduled rate); `weight_decay`: the rate the last step used."""

  count: jax.Array
  weight_decay: jax.Array
  _hyperparams = ("weight_decay",)


class AddDecayedWeights(GradientTransformation):
  """`u = g + weight_decay * w` on the leaves selected by `mask` (all by default).

  Placed before the learning rate in an SGD chain it is coupled L2
  regularisation: `chain(add_decayed_weights(lam / lr), sgd(lr))` gives the
  sources' `w <- w - lr g - lam w`. Placed after Adam's scaling (as in
  `adamw`) it is decoupled weight decay, `w <- w - lr (adam_direction + wd w)`
  (Loshchilov & Hutter, 2019). `weight_decay` may be a schedule. Default 0.
  """

  weight_decay: Any = 0.0
  mask: Any = static(default=None)

  def __post_init__(self):
    object.__setattr__(self, "mask", _masks.freeze(self.mask))

  def init(self, params):
    del params
    return AddDecayedWeightsState(zero_count(), jnp.zeros([], scalar_dtype()))

  def update(self, updates, state, params=None, **extra_args):
    del extra_args
    require_params("add_decayed_weights", params, updates)
    wd = evaluate(self.weight_decay, state.count)
    selected = _masks.resolve(self.mask, updates)

    rate_as = functools.cache(lambda dt: hyper(wd, dt))  # cast once per dtype, not per leaf

    def leaf(g, p, on):
      if not on or g is None:
        return g
      cdt = compute_dtype(g.dtype)
      return cast(cast(g, cdt) + rate_as(cdt) * cast(p, cdt), g.dtype)

    updates = jax.tree.map(leaf, updates, params, selected, is_leaf=lambda x: x is None)
    return updates, AddDecayedWeightsState(safe_increment(state.count), wd)


def add_decayed_weights(weight_decay: Any = 0.0, mask: Any = None) -> AddDecayedWeights:
  r"""Adds `weight_decay * params` to the updates.

  $$
  u_t = g_t + \lambda_t\, w_{t-1}
  $$

  on the leaves selected by `mask` (all by default), with $\lambda_t$ = `weight_decay` (a
  number or a schedule of the step count). Before the learning rate in an SGD chain it is
  coupled L2 regularisation: `chain(add_decayed_weights(lam / lr), sgd(lr))` gives
  $w_t = w_{t-1} - \eta g_t - \lambda w_{t-1}$. After Adam's scaling (as in `adamw`) it
  is decoupled weight decay, $w_t = w_{t-1} - \eta (\text{adam direction} + \lambda
  w_{t-1})$ (Loshchilov & Hutter, 2019).

  Defaults: `weight_decay=0`, `mask=None` (Optax's `add_decayed_weights`).

  Args:
    weight_decay: $\lambda$, a number or a schedule of the step count.
    mask: the leaves decayed (a tree of bools, a prefix of it, a function of the params
      or a selector); all by default.
  """
  return AddDecayedWeights(weight_decay, mask)
