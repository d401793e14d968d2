"""Decoupled weight decay applied to the already stepped weights (the reference SOAP's
order: `p <- p - lr * u`, then `p <- p - lr * wd * p`)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import compute_dtype, hyper, map_leaves, safe_increment, zero_count
from gradtx.primitives.decay.weight_decay import require_params
from gradtx.primitives.scaling.scaling import evaluate

__all__ = ["AddSteppedWeightDecay", "AddSteppedWeightDecayState", "add_stepped_weight_decay"]


class AddSteppedWeightDecayState(NamedTuple):
  """`count`: updates done."""

  count: jax.Array


class AddSteppedWeightDecay(GradientTransformation):
  """`u_t = u - lr(t) wd (w + u)`: the final update `u` (learning rate already applied)
  followed by the decay of the stepped weights `w + u`, so that
  `w_{t+1} = (w + u)(1 - lr wd)` exactly as the reference SOAP writes it. No decay on the
  first `skip_steps` updates (SOAP's first call leaves the weights untouched)."""

  learning_rate: Any
  weight_decay: Any = 0.0
  skip_steps: int = static(default=0)

  def __post_init__(self):
    _checks.non_negative("add_stepped_weight_decay", "weight_decay", self.weight_decay)

  def init(self, params):
    del params
    return AddSteppedWeightDecayState(zero_count())

  def update(self, updates, state, params=None, **extra_args):
    del extra_args
    require_params("add_stepped_weight_decay", params, updates)
    factor = evaluate(self.learning_rate, state.count) * self.weight_decay
    factor = jnp.where(state.count < self.skip_steps, 0, factor)

    def leaf(u, w):
      cdt = compute_dtype(u.dtype)
      f = hyper(factor, cdt)
      uc = u.astype(cdt)
      return ((uc - f * (w.astype(cdt) + uc)).astype(u.dtype),)

    (updates,) = map_leaves(leaf, updates, params, n_out=1)
    return updates, AddSteppedWeightDecayState(safe_increment(state.count))


def add_stepped_weight_decay(
  learning_rate: Any, weight_decay: Any = 0.0, *, skip_steps: int = 0
) -> AddSteppedWeightDecay:
  r"""Weight decay of the stepped weights, as the reference SOAP (and LaProp) write it.

  For the final update $u$ (learning rate already applied) and $\eta_t$ =
  `learning_rate` at the step count:

  $$
  u'_t = u - \eta_t \lambda\, (w_{t-1} + u), \qquad\text{so}\qquad
  w_t = (w_{t-1} + u)(1 - \eta_t \lambda),
  $$

  with $\lambda$ = `weight_decay`; no decay on the first `skip_steps` updates (SOAP's
  first call leaves the weights untouched).

  Defaults: `weight_decay=0`, `skip_steps=0` (no decay; `soap` passes the reference
  code's `weight_decay=0.01`, `skip_steps=1`).
  """
  return AddSteppedWeightDecay(learning_rate, weight_decay, skip_steps)
