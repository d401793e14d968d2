"""Adafactor's pieces: the factored second moment and the per-block RMS scalings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation, StatelessTransformation
from gradtx.core.validate import TreeMismatchError, check_arrays, check_same_structure
from gradtx.numerics.ops import (
  abs_sq,
  compute_dtype,
  hyper,
  map_leaves,
  real_dtype,
  safe_increment,
  scalar_dtype,
  zero_count,
  zeros_like,
)
from gradtx.numerics.ops import state_dtype as storage_dtype
from gradtx.primitives.decay.weight_decay import require_params

__all__ = [
  "FactoredState",
  "ScaleByFactoredRms",
  "scale_by_factored_rms",
  "decay_rate_pow",
  "ClipByBlockRms",
  "clip_by_block_rms",
  "ScaleByParamBlockRms",
  "scale_by_param_block_rms",
]


def decay_rate_pow(step: Any, exponent: Any = 0.8) -> jax.Array:
  """Adafactor's second-moment decay `beta_t = 1 - (step + 1)^(-exponent)` (step 0 first)."""
  t = jnp.asarray(step, scalar_dtype()) + 1.0
  return 1.0 - t ** (-jnp.asarray(exponent, scalar_dtype()))


def factored_dims(
  shape: tuple[int, ...], factored: bool, min_dim_size_to_factor: int
) -> tuple[int, int] | None:
  """`(d1, d0)`: the second-largest and largest axes, or None if not factored.

  A leaf is factored when it has at least 2 axes and its second-largest axis
  has at least `min_dim_size_to_factor` entries. Ties keep the axis order.
  """
  if not factored or len(shape) < 2:
    return None
  order = sorted(range(len(shape)), key=lambda i: shape[i])
  if shape[order[-2]] < min_dim_size_to_factor:
    return None
  return order[-2], order[-1]


def _rsqrt0(x: jax.Array) -> jax.Array:
  """`x^(-1/2)`, and 0 where `x` is 0 (only with `epsilon = 0` and zero gradients)."""
  return jnp.where(x > 0, jax.lax.rsqrt(jnp.where(x > 0, x, 1.0)), 0.0)


def _drop_axis(shape: tuple[int, ...], axis: int) -> tuple[int, ...]:
  return shape[:axis] + shape[axis + 1 :]


class FactoredState(NamedTuple):
  """`count`: steps done; `v_row`, `v_col`: the factored statistics of factored
  leaves; `v`: the full statistic of the others. Unused entries hold a
  placeholder of shape `(1,)` (Optax's layout)."""

  count: jax.Array
  v_row: Any
  v_col: Any
  v: Any


class ScaleByFactoredRms(GradientTransformation):
  """Adafactor's factored scaling; the update rule and defaults are on
  `scale_by_factored_rms`. `beta_t` is a scalar computed once per step, in float64 under
  x64 (Optax's default computes it in float32 even then)."""

  factored: bool = static(default=True)
  decay_rate: Any = 0.8
  step_offset: Any = 0
  min_dim_size_to_factor: int = static(default=128)
  epsilon: Any = 1e-30
  decay_rate_fn: Callable[[Any, Any], Any] = static(default=decay_rate_pow)
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    _checks.non_negative("scale_by_factored_rms", "decay_rate", self.decay_rate)
    _checks.non_negative("scale_by_factored_rms", "epsilon", self.epsilon)

  def _dims(self, shape: tuple[int, ...]) -> tuple[int, int] | None:
    return factored_dims(shape, self.factored, self.min_dim_size_to_factor)

  def _state_shapes(self, shape: tuple[int, ...]) -> tuple:
    """Shapes of `(v_row, v_col, v)` for a leaf of `shape` ((1,) placeholders)."""
    dims = self._dims(shape)
    if dims is None:
      return (1,), (1,), shape
    d1, d0 = dims
    return _drop_axis(shape, d0), _drop_axis(shape, d1), (1,)

  def _check_shapes(self, updates: Any, state: FactoredState) -> None:
    """The state's statistics have the shapes the updates' leaves imply (no broadcasting)."""
    check_same_structure("the updates", updates, "the state's v", state.v, shapes=False)
    rows, cols, vs = (jax.tree.leaves(t) for t in (state.v_row, state.v_col, state.v))
    for (path, g), r, c, v in zip(jax.tree_util.tree_leaves_with_path(updates), rows, cols, vs):
      have = (tuple(r.shape), tuple(c.shape), tuple(v.shape))
      if have != self._state_shapes(tuple(g.shape)):
        raise TreeMismatchError(
          f"leaf {jax.tree_util.keystr(path)} has shape {tuple(g.shape)} in the updates, but "
          f"the state's statistics (v_row, v_col, v) have shapes {have}: expected "
          f"{self._state_shapes(tuple(g.shape))} (no broadcasting)."
        )

  def init(self, params):
    check_arrays(params, "params", inexact=True)

    def leaf(p):
      dt = real_dtype(storage_dtype(p.dtype, self.state_dtype))
      placeholder = jnp.zeros((1,), dt)
      dims = self._dims(p.shape)
      if dims is None:
        return placeholder, placeholder, zeros_like(p, self.state_dtype, real=True)
      d1, d0 = dims
      return (
        jnp.zeros(_drop_axis(p.shape, d0), dt),
        jnp.zeros(_drop_axis(p.shape, d1), dt),
        placeholder,
      )

    # A tree map, not `map_leaves`: `init` also takes abstract params
    # (`jax.ShapeDtypeStruct`, as `jax.eval_shape` and sharded init pass them),
    # which `map_leaves` would try to convert to arrays.
    treedef = jax.tree.structure(params)
    outs = [leaf(p) for p in treedef.flatten_up_to(params)]
    v_row, v_col, v = (treedef.unflatten([o[i] for o in outs]) for i in range(3))
    return FactoredState(zero_count(), v_row, v_col, v)

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    beta_t = jnp.asarray(
      self.decay_rate_fn(state.count - self.step_offset, self.decay_rate), scalar_dtype()
    )

    def leaf(g, v_row, v_col, v):
      cdt = compute_dtype(g.dtype)
      rdt = real_dtype(cdt)
      beta = hyper(beta_t, cdt)
      gc = g.astype(cdt)
      g2 = abs_sq(gc) + hyper(self.epsilon, cdt)
      dims = self._dims(g.shape)
      if dims is None:
        v_new = beta * v.astype(rdt) + (1 - beta) * g2
        return (gc * _rsqrt0(v_new)).astype(g.dtype), v_row, v_col, v_new.astype(v.dtype)
      d1, d0 = dims
      row = beta * v_row.astype(rdt) + (1 - beta) * jnp.mean(g2, axis=d0)
      col = beta * v_col.astype(rdt) + (1 - beta) * jnp.mean(g2, axis=d1)
      row_mean = jnp.mean(row, axis=d1 - 1 if d1 > d0 else d1, keepdims=True)
      row_factor = _rsqrt0(row / jnp.where(row_mean > 0, row_mean, 1.0))
      u = gc * jnp.expand_dims(row_factor, d0) * jnp.expand_dims(_rsqrt0(col), d1)
      return u.astype(g.dtype), row.astype(v_row.dtype), col.astype(v_col.dtype), v

    self._check_shapes(updates, state)
    updates, v_row, v_col, v = map_leaves(
      leaf, updates, state.v_row, state.v_col, state.v, n_out=4, shapes=False
    )
    return updates, FactoredState(safe_increment(state.count), v_row, v_col, v)


def block_rms(x: jax.Array) -> jax.Array:
  """`sqrt(mean(|x|^2))` over the whole leaf."""
  return jnp.sqrt(jnp.mean(abs_sq(x)))


class ClipByBlockRms(StatelessTransformation):
  """`u = g / max(1, rms(g) / threshold)`, per leaf (a block).

  Adafactor's update clipping (Shazeer & Stern, 2018, section 6), `d = threshold`.
  """

  threshold: Any

  def __post_init__(self):
    _checks.positive("clip_by_block_rms", "threshold", self.threshold)

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args

    def leaf(g):
      cdt = compute_dtype(g.dtype)
      gc = g.astype(cdt)
      return (gc / jnp.maximum(1.0, block_rms(gc) / hyper(self.threshold, cdt))).astype(g.dtype)

    return jax.tree.map(leaf, updates), state


class ScaleByParamBlockRms(StatelessTransformation):
  """`u = g * max(rms(w), min_scale)`, per leaf: Adafactor's relative step size.

  Default as Optax: `min_scale=1e-3` (the paper's `eps2`).
  """

  min_scale: Any = 1e-3

  def __post_init__(self):
    _checks.non_negative("scale_by_param_block_rms", "min_scale", self.min_scale)

  def update(self, updates, state, params=None, **extra_args):
    del extra_args
    require_params("scale_by_param_block_rms", params)

    def leaf(g, p):
      cdt = compute_dtype(g.dtype)
      factor = jnp.maximum(block_rms(p.astype(cdt)), hyper(self.min_scale, cdt))
      return (g.astype(cdt) * factor).astype(g.dtype)

    return jax.tree.map(leaf, updates, params), state


def scale_by_factored_rms(
  factored: bool = True,
  decay_rate: Any = 0.8,
  step_offset: Any = 0,
  min_dim_size_to_factor: int = 128,
  epsilon: Any = 1e-30,
  decay_rate_fn: Callable[[Any, Any], Any] = decay_rate_pow,
  *,
  state_dtype: Any = None,
) -> ScaleByFactoredRms:
  r"""Adafactor's scaling (Shazeer & Stern, 2018) by a factored RMS estimate.

  With $s$ = the steps done before this one (0 first), $\beta_s$ =
  `decay_rate_fn(s - step_offset, decay_rate)`, by default
  $1 - (s - \text{step\_offset} + 1)^{-\text{decay\_rate}}$, and
  $G_t = |g_t|^2 + \epsilon$: for a leaf whose second-largest axis $d_1$ has at least
  `min_dim_size_to_factor` entries ($d_0$ the largest axis),

  $$
  R_t = \beta_s R_{t-1} + (1 - \beta_s) \operatorname{mean}_{d_0} G_t, \qquad
  C_t = \beta_s C_{t-1} + (1 - \beta_s) \operatorname{mean}_{d_1} G_t, \qquad
  u_t = \frac{g_t}{\sqrt{\big(R_t / \operatorname{mean}_{d_1} R_t\big) \otimes C_t}},
  $$

  the rank-1 estimate $R C^\top / \sum R$ of the second moment. Other leaves (vectors,
  scalars, small matrices, or all with `factored=False`) keep the full
  $V_t = \beta_s V_{t-1} + (1 - \beta_s) G_t$ and $u_t = g_t / \sqrt{V_t}$. `step_offset`
  restarts the decay schedule (fine-tuning from a restored count).

  Defaults: `factored=True`, `decay_rate=0.8`, `step_offset=0`,
  `min_dim_size_to_factor=128`, `epsilon=1e-30` (Optax's `scale_by_factored_rms`).

  Args:
    factored: factor the second moment of large matrices.
    decay_rate: the exponent of the default decay schedule.
    step_offset: the step the decay schedule restarts from.
    min_dim_size_to_factor: the smallest second-largest axis of a factored leaf.
    epsilon: $\epsilon$, added to $|g_t|^2$.
    decay_rate_fn: `(step, decay_rate) -> beta`, the decay schedule.
    state_dtype: dtype of the statistics.

  Returns:
    A `ScaleByFactoredRms` transformation with state `FactoredState`.
  """
  return ScaleByFactoredRms(
    factored, decay_rate, step_offset, min_dim_size_to_factor, epsilon, decay_rate_fn, state_dtype
  )


def clip_by_block_rms(threshold: Any) -> ClipByBlockRms:
  r"""Clips each leaf's update to RMS at most `threshold` (Adafactor's update clipping,
  Shazeer & Stern, 2018, section 6).

  $$
  u_t = \frac{g_t}{\max\big(1, \operatorname{rms}(g_t) / d\big)}, \qquad
  \operatorname{rms}(x) = \sqrt{\operatorname{mean}(|x|^2)},
  $$

  per leaf (a block), $d$ = `threshold`.

  Defaults: none (`threshold` is required; `adafactor` passes 1, the paper's $d$).
  """
  return ClipByBlockRms(threshold)


def scale_by_param_block_rms(min_scale: Any = 1e-3) -> ScaleByParamBlockRms:
  r"""Scales each leaf's update by its parameter's RMS: Adafactor's relative step size.

  $$
  u_t = \max\big(\operatorname{rms}(w), s_{\min}\big)\, g_t,
  $$

  per leaf, $s_{\min}$ = `min_scale`.

  Defaults: `min_scale=1e-3` (Optax's `scale_by_param_block_rms`; the paper's
  $\epsilon_2$).
  """
  return ScaleByParamBlockRms(min_scale)
