"""Optimistic (extrapolated) gradients: `(alpha + beta) g_t - beta g_{t-1}`."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import compute_dtype, hyper, map_leaves, zeros_like

__all__ = [
  "ScaleByOptimisticGradient",
  "ScaleByOptimisticGradientState",
  "scale_by_optimistic_gradient",
]


class ScaleByOptimisticGradientState(NamedTuple):
  """`is_initial_step`: True before the first update; `previous_gradient`: `g_{t-1}`."""

  is_initial_step: jax.Array
  previous_gradient: Any


class ScaleByOptimisticGradient(GradientTransformation):
  """Optimistic gradients; the update rule and defaults are on
  `scale_by_optimistic_gradient`."""

  alpha: Any = 1.0
  beta: Any = 1.0
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    _checks.non_negative("scale_by_optimistic_gradient", "alpha", self.alpha)
    _checks.non_negative("scale_by_optimistic_gradient", "beta", self.beta)

  def init(self, params):
    return ScaleByOptimisticGradientState(jnp.asarray(True), zeros_like(params, self.state_dtype))

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    first = state.is_initial_step

    def leaf(g, g_prev):
      cdt = compute_dtype(g.dtype)
      alpha, beta = hyper(self.alpha, cdt), hyper(self.beta, cdt)
      gc = g.astype(cdt)
      prev = jnp.where(first, gc, g_prev.astype(cdt))
      return ((alpha + beta) * gc - beta * prev).astype(g.dtype), gc.astype(g_prev.dtype)

    updates, previous = map_leaves(leaf, updates, state.previous_gradient, n_out=2)
    return updates, ScaleByOptimisticGradientState(jnp.asarray(False), previous)


def scale_by_optimistic_gradient(
  alpha: Any = 1.0, beta: Any = 1.0, *, state_dtype: Any = None
) -> ScaleByOptimisticGradient:
  r"""Generalized optimistic gradient (Mokhtari et al., 2019; Daskalakis et al., 2018).

  $$
  u_t = (\alpha + \beta)\, g_t - \beta\, g_{t-1},
  $$

  with $g_0 = g_1$, so the first update is $\alpha g_1$. $\alpha = \beta = 1$ is
  optimistic gradient descent, $2 g_t - g_{t-1}$.

  Defaults: `alpha=1`, `beta=1` (Optax's `scale_by_optimistic_gradient`).

  Args:
    alpha: $\alpha$, the weight of the current gradient.
    beta: $\beta$, the weight of the optimism (the gradient's change).
    state_dtype: dtype of the stored previous gradient.

  Returns:
    A `ScaleByOptimisticGradient` transformation with state
    `ScaleByOptimisticGradientState`.
  """
  return ScaleByOptimisticGradient(alpha, beta, state_dtype)
