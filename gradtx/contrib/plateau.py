"""Reduce the learning rate when a monitored value stops improving (Optax's
`reduce_on_plateau`, with torch's relative threshold on `|best|`)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import safe_increment
from gradtx.primitives.scaling.scaling import scale_leaves
from gradtx.tree_utils.dtypes import tree_dtype

__all__ = ["ReduceLROnPlateauState", "ReduceOnPlateau", "reduce_on_plateau"]


class ReduceLROnPlateauState(NamedTuple):
  """Optax's fields: `scale` (multiplies the updates), `best_value`, `plateau_count`,
  `cooldown_count`, `count` (values accumulated), `avg_value` (their mean)."""

  scale: jax.Array
  best_value: jax.Array
  plateau_count: jax.Array
  cooldown_count: jax.Array
  count: jax.Array
  avg_value: jax.Array


class ReduceOnPlateau(GradientTransformation):
  """Reduce-on-plateau scaling; the rule and defaults are on `reduce_on_plateau`."""

  factor: Any = 0.1
  patience: Any = 10
  rtol: Any = 1e-4
  atol: Any = 0.0
  cooldown: Any = 0
  accumulation_size: Any = 1
  min_scale: Any = 0.0

  def __post_init__(self):
    owner = "reduce_on_plateau"
    _checks.check(owner, "factor", self.factor, lambda v: (v > 0) & (v < 1), "a value in (0, 1)")
    _checks.check(owner, "rtol", self.rtol, lambda v: (v >= 0) & (v <= 1), "a value in [0, 1]")
    _checks.non_negative(owner, "atol", self.atol)
    rtol, atol = _checks.concrete(self.rtol), _checks.concrete(self.atol)
    if rtol is not None and atol is not None and rtol == 0 and atol == 0:
      raise ValueError(f"{owner}: rtol=0 and atol=0 is invalid; expected one of them > 0.")
    _checks.positive_integer(owner, "patience", self.patience)
    _checks.non_negative(owner, "cooldown", self.cooldown)
    _checks.positive_integer(owner, "accumulation_size", self.accumulation_size)
    _checks.non_negative(owner, "min_scale", self.min_scale)

  def init(self, params):
    low = tree_dtype(params, "lowest") if jax.tree.leaves(params) else jnp.result_type(float)
    high = tree_dtype(params, "highest") if jax.tree.leaves(params) else low
    zero = jnp.zeros([], jnp.int32)
    return ReduceLROnPlateauState(
      jnp.asarray(1.0, low), jnp.asarray(jnp.inf, high), zero, zero, zero, jnp.asarray(0.0, high)
    )

  def update(self, updates, state, params=None, *, value=None, **extra_args):
    del params, extra_args
    if value is None:
      raise TypeError(
        "reduce_on_plateau.update needs the monitored value: call "
        "update(updates, state, params, value=loss)."
      )
    state = ReduceLROnPlateauState(*state)  # also accepts Optax's state of the same fields
    count = safe_increment(state.count)
    avg = (
      (state.count * state.avg_value + jnp.asarray(value, state.avg_value.dtype)) / count
    ).astype(state.avg_value.dtype)
    ready = count == jnp.asarray(self.accumulation_size, jnp.int32)
    best = state.best_value
    threshold = jnp.where(jnp.isfinite(best), best - self.rtol * jnp.abs(best) - self.atol, best)
    improved = avg < threshold
    plateau = jnp.where(improved, 0, safe_increment(state.plateau_count))
    cooling = state.cooldown_count > 0
    reduce = ~cooling & (plateau == jnp.asarray(self.patience, jnp.int32))
    scale = jnp.where(reduce, jnp.maximum(state.scale * self.factor, self.min_scale), state.scale)
    new = ReduceLROnPlateauState(
      scale.astype(state.scale.dtype),
      jnp.where(improved, avg, best).astype(best.dtype),
      jnp.where(cooling | reduce, 0, plateau).astype(jnp.int32),
      jnp.where(
        cooling,
        state.cooldown_count - 1,
        jnp.where(reduce, jnp.asarray(self.cooldown, jnp.int32), 0),
      ).astype(jnp.int32),
      jnp.zeros([], jnp.int32),
      jnp.zeros([], avg.dtype),
    )
    waiting = state._replace(count=count, avg_value=avg)
    new_state = jax.tree.map(lambda a, b: jnp.where(ready, a, b), new, waiting)
    return scale_leaves(updates, new_state.scale), new_state


def reduce_on_plateau(
  factor: Any = 0.1,
  patience: Any = 10,
  rtol: Any = 1e-4,
  atol: Any = 0.0,
  cooldown: Any = 0,
  accumulation_size: Any = 1,
  min_scale: Any = 0.0,
) -> ReduceOnPlateau:
  r"""Scales updates down by `factor` when `value` plateaus; `update(..., value=loss)`
  feeds the monitored value.

  $u_t = s\, g_t$. Every `accumulation_size` values their mean $a$ is compared with the
  best so far, $b$; it improves if

  $$
  a < b - r |b| - \alpha
  $$

  ($r$ = `rtol`, $\alpha$ = `atol`; torch's `ReduceLROnPlateau` relative mode, on $|b|$,
  so a negative loss can improve and plateau too; Optax's $(1 - r) b - \alpha$ accepts a
  worsening negative loss as an improvement and never reduces). After `patience`
  comparisons without improvement $s \leftarrow \max(f s, s_{\min})$ ($f$ = `factor`,
  $s_{\min}$ = `min_scale`) and `cooldown` comparisons are skipped.

  Defaults: `factor=0.1`, `patience=10`, `rtol=1e-4`, `atol=0`, `cooldown=0`,
  `accumulation_size=1`, `min_scale=0` (Optax's `contrib.reduce_on_plateau`).

  Args:
    factor: $f$, the factor the scale is multiplied by on a plateau.
    patience: the comparisons without improvement before a reduction.
    rtol: $r$, the relative improvement needed.
    atol: $\alpha$, the absolute improvement needed.
    cooldown: the comparisons skipped after a reduction.
    accumulation_size: the values averaged into one comparison.
    min_scale: $s_{\min}$.
  """
  return ReduceOnPlateau(factor, patience, rtol, atol, cooldown, accumulation_size, min_scale)
