"""DoG's scaling: distance from the initial point over the root of the summed squared gradients."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation
from gradtx.core.validate import check_arrays
from gradtx.numerics.ops import abs_sq, compute_dtype, hyper, map_leaves, real_dtype
from gradtx.primitives.decay.weight_decay import require_params

__all__ = [
  "ScaleByDistanceOverGradients",
  "ScaleByDistanceOverGradientsState",
  "scale_by_distance_over_gradients",
]


class ScaleByDistanceOverGradientsState(NamedTuple):
  """Optax's layout: per leaf `max_dist` (scalar), `grad_sum_of_squares` (shape `(1,)`),
  and `init_params` (the starting point, in `param_dtype`)."""

  max_dist: Any
  grad_sum_of_squares: Any
  init_params: Any


def _norm(x: jax.Array) -> jax.Array:
  return jnp.sqrt(jnp.sum(abs_sq(x)))


class ScaleByDistanceOverGradients(GradientTransformation):
  """Layer-wise DoG; the update rule and defaults are on
  `scale_by_distance_over_gradients`."""

  reps_rel: Any = 1e-6
  eps: Any = 1e-8
  param_dtype: Any = static(default=jnp.float32)
  global_scale: Any = 1.0
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    _checks.positive("scale_by_distance_over_gradients", "reps_rel", self.reps_rel)
    _checks.non_negative("scale_by_distance_over_gradients", "eps", self.eps)

  def init(self, params):
    check_arrays(params, "params", inexact=True)

    def leaf(p):
      rdt = real_dtype(compute_dtype(p.dtype))
      pdt = jnp.dtype(self.param_dtype if self.state_dtype is None else self.state_dtype)
      if jnp.iscomplexobj(p) and not jnp.issubdtype(pdt, jnp.complexfloating):
        pdt = jnp.result_type(pdt, jnp.complex64)
      sdt = rdt if self.state_dtype is None else real_dtype(jnp.dtype(self.state_dtype))
      r0 = hyper(self.reps_rel, rdt) * (1 + _norm(p.astype(compute_dtype(p.dtype))))
      # a copy, never `p` itself: params and state may both be donated
      return r0.astype(sdt), jnp.zeros((1,), sdt), jnp.array(p, pdt, copy=True)

    return ScaleByDistanceOverGradientsState(*map_leaves(leaf, params, n_out=3))

  def update(self, updates, state, params=None, **extra_args):
    del extra_args
    require_params("scale_by_distance_over_gradients", params, updates)

    def leaf(g, r, gsos, p, p0):
      cdt = compute_dtype(g.dtype)
      rdt = real_dtype(cdt)
      gc = g.astype(cdt)
      r_new = jnp.maximum(r.astype(rdt), _norm(p.astype(cdt) - p0.astype(cdt)))
      gsos_new = gsos.astype(rdt) + jnp.sum(abs_sq(gc))
      eta = hyper(self.global_scale, cdt) * r_new / jnp.sqrt(gsos_new[0] + hyper(self.eps, cdt))
      return (eta * gc).astype(g.dtype), r_new.astype(r.dtype), gsos_new.astype(gsos.dtype)

    updates, r, gsos = map_leaves(
      leaf,
      updates,
      state.max_dist,
      state.grad_sum_of_squares,
      params,
      state.init_params,
      n_out=3,
      shapes=False,
    )
    return updates, ScaleByDistanceOverGradientsState(r, gsos, state.init_params)


def scale_by_distance_over_gradients(
  reps_rel: Any = 1e-6,
  eps: Any = 1e-8,
  param_dtype: Any = jnp.float32,
  global_scale: Any = 1.0,
  *,
  state_dtype: Any = None,
) -> ScaleByDistanceOverGradients:
  r"""Layer-wise DoG (Ivgi et al., 2023, "DoG is SGD's Best Friend", LDoG).

  Per leaf, with $\|\cdot\|$ its norm and $w_0$ the params at `init`:

  $$
  r_0 = \epsilon_r (1 + \|w_0\|), \qquad r_t = \max(r_{t-1}, \|w_t - w_0\|), \qquad
  G_t = G_{t-1} + \|g_t\|^2, \qquad u_t = s\, \frac{r_t}{\sqrt{G_t + \epsilon}}\, g_t,
  $$

  with $\epsilon_r$ = `reps_rel`, $G_0 = 0$, $s$ = `global_scale` (use -1 for descent
  without a following `scale(-1)`) and $w_t$ the params passed to this update.

  Defaults: `reps_rel=1e-6` (Optax's; the authors recommend 1e-4 with batch norm),
  `eps=1e-8`, `param_dtype=float32` (the stored $w_0$), `global_scale=1` (Optax's
  `scale_by_distance_over_gradients`). `state_dtype`, when given, sets the dtype of all
  per-parameter state and takes precedence over `param_dtype`; a complex $w_0$ stays
  complex.

  Args:
    reps_rel: $\epsilon_r$, the initial distance relative to $1 + \|w_0\|$.
    eps: $\epsilon$, added under the root.
    param_dtype: dtype of the stored $w_0$.
    global_scale: $s$.
    state_dtype: dtype of all per-parameter state (overrides `param_dtype`).

  Returns:
    A `ScaleByDistanceOverGradients` transformation with state
    `ScaleByDistanceOverGradientsState`.
  """
  return ScaleByDistanceOverGradients(reps_rel, eps, param_dtype, global_scale, state_dtype)
