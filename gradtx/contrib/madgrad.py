"""MADGRAD (Defazio & Jelassi, 2021) as facebookresearch/madgrad implements it."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.combinators.combine import chain
from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.named import named_optimizer
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import (
  abs_sq,
  cast,
  compute_dtype,
  hyper,
  map_leaves,
  safe_increment,
  scalar_dtype,
  zero_count,
  zeros_like,
)
from gradtx.primitives.decay.weight_decay import add_decayed_weights, require_params
from gradtx.primitives.scaling.scaling import evaluate

__all__ = ["MadgradState", "ScaleByMadgrad", "scale_by_madgrad", "madgrad"]


class MadgradState(NamedTuple):
  """Optax's fields: `count`, `grad_sum_sq` (`nu_k`), `s` (`s_k`), `x0`."""

  count: jax.Array
  grad_sum_sq: Any
  s: Any
  x0: Any


class ScaleByMadgrad(GradientTransformation):
  """MADGRAD's dual-averaged step; the update rule and defaults are on
  `scale_by_madgrad`."""

  learning_rate: Any
  momentum: Any = 0.9
  eps: Any = 1e-6
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    _checks.unit_interval("scale_by_madgrad", "momentum", self.momentum)
    _checks.non_negative("scale_by_madgrad", "eps", self.eps)
    if not callable(self.learning_rate):
      _checks.non_negative("scale_by_madgrad", "learning_rate", self.learning_rate)

  def init(self, params):
    return MadgradState(
      zero_count(),
      zeros_like(params, self.state_dtype),
      zeros_like(params, self.state_dtype),
      jax.tree.map(lambda p: jnp.array(p, copy=True), params),
    )

  def update(self, updates, state, params=None, **extra_args):
    del extra_args
    require_params("scale_by_madgrad", params, updates)
    lr = evaluate(self.learning_rate, state.count)
    lamb = (lr + self.eps) * jnp.sqrt(state.count.astype(scalar_dtype()) + 1)

    def leaf(g, p, nu, s, x0):
      cdt = compute_dtype(g.dtype)
      gc, pc, lc = g.astype(cdt), p.astype(cdt), hyper(lamb, cdt)
      nu_new = nu.astype(cdt) + lc * abs_sq(gc)
      s_new = s.astype(cdt) + lc * gc
      z = x0.astype(cdt) - s_new / (jnp.cbrt(nu_new) + hyper(self.eps, cdt))
      mom = hyper(self.momentum, cdt)
      u = ((1 - mom) * z + mom * pc) - pc
      return cast(u, g.dtype), cast(nu_new, nu.dtype), cast(s_new, s.dtype)

    u, nu, s = map_leaves(leaf, updates, params, state.grad_sum_sq, state.s, state.x0, n_out=3)
    return u, MadgradState(safe_increment(state.count), nu, s, state.x0)


def scale_by_madgrad(
  learning_rate: Any, momentum: Any = 0.9, eps: Any = 1e-6, *, state_dtype: Any = None
) -> ScaleByMadgrad:
  r"""MADGRAD's dual-averaged step (Defazio & Jelassi, 2021; reference code
  facebookresearch/madgrad), returned as the update $x_{k+1} - x_k$; it includes the
  learning rate.

  With $k = 0, 1, \dots$ and $\eta_k$ = `learning_rate`:

  $$
  \lambda_k = (\eta_k + \epsilon) \sqrt{k + 1}, \qquad
  s_{k+1} = s_k + \lambda_k g_k, \qquad \nu_{k+1} = \nu_k + \lambda_k g_k^2, \qquad
  z_{k+1} = x_0 - \frac{s_{k+1}}{\sqrt[3]{\nu_{k+1}} + \epsilon}, \qquad
  x_{k+1} = \mu\, x_k + (1 - \mu)\, z_{k+1},
  $$

  with $\mu$ = `momentum` (the reference adds $\epsilon$ to the learning rate).

  Defaults: `momentum=0.9`, `eps=1e-6` (the reference code's).

  Args:
    learning_rate: $\eta_k$, a number or a schedule.
    momentum: $\mu$.
    eps: $\epsilon$.
    state_dtype: dtype of the state.

  Returns:
    A `ScaleByMadgrad` transformation with state `MadgradState`.
  """
  return ScaleByMadgrad(learning_rate, momentum, eps, state_dtype)


def _madgrad(
  learning_rate: Any,
  momentum: Any = 0.9,
  weight_decay: Any = 0.0,
  eps: Any = 1e-6,
  *,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""MADGRAD (Defazio & Jelassi, 2021) with L2 weight decay added to the gradient first,
  as the reference: `scale_by_madgrad` on $g_k + \lambda x_k$, $\lambda$ = `weight_decay`.

  Defaults: `momentum=0.9`, `weight_decay=0`, `eps=1e-6` (the reference code's).

  Args:
    learning_rate: $\eta_k$, a number or a schedule.
    momentum: $\mu$.
    weight_decay: $\lambda$ of the L2 decay.
    eps: $\epsilon$.
    state_dtype: dtype of the state.
  """
  return chain(
    add_decayed_weights(weight_decay),
    scale_by_madgrad(learning_rate, momentum, eps, state_dtype=state_dtype),
  )


madgrad = named_optimizer(_madgrad)
