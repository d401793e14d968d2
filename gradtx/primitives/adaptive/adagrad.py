"""AdaGrad: scaling by the root of the sum of squared gradients."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import (
  abs_sq,
  compute_dtype,
  full_like,
  hyper,
  map_leaves,
  real_dtype,
  safe_div,
)
from gradtx.numerics.storage import check_state_dtype, load, store

__all__ = ["ScaleByRss", "ScaleByRssState", "scale_by_rss", "divide_by_root"]


class ScaleByRssState(NamedTuple):
  """`sum_of_squares`: `G`, shaped like the params."""

  sum_of_squares: Any


def divide_by_root(g: Any, s: Any, eps: Any, eps_in_sqrt: bool) -> Any:
  """`g / sqrt(s + eps)` (`eps_in_sqrt`) or `g / (sqrt(s) + eps)`, with `0 / 0 = 0`.

  `s >= 0` is a running sum or average of `|g|^2` (or a variance, clamped at
  0): where the root is 0 the gradient is 0 too, and the update is 0, not
  NaN, even with `eps = 0` (see `safe_div`).
  """
  root = jnp.sqrt(s + eps) if eps_in_sqrt else jnp.sqrt(s) + eps
  return safe_div(g, root)


class ScaleByRss(GradientTransformation):
  """AdaGrad's scaling; the update rule and defaults are on `scale_by_rss`."""

  initial_accumulator_value: Any = 0.1
  eps: Any = 1e-7
  eps_in_sqrt: bool = static(default=True)
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    _checks.non_negative(
      "scale_by_rss", "initial_accumulator_value", self.initial_accumulator_value
    )
    _checks.non_negative("scale_by_rss", "eps", self.eps)
    check_state_dtype("scale_by_rss", self.state_dtype)

  def init(self, params):
    return ScaleByRssState(
      full_like(params, self.initial_accumulator_value, self.state_dtype, real=True)
    )

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args

    def leaf(g, s):
      cdt = compute_dtype(g.dtype)
      s_new = load(s, real_dtype(cdt)) + abs_sq(g.astype(cdt))
      u = divide_by_root(g.astype(cdt), s_new, hyper(self.eps, cdt), self.eps_in_sqrt)
      return u.astype(g.dtype), store(s_new, s, g)

    updates, ss = map_leaves(leaf, updates, state.sum_of_squares, n_out=2)
    return updates, ScaleByRssState(ss)


def scale_by_rss(
  initial_accumulator_value: Any = 0.1,
  eps: Any = 1e-7,
  *,
  eps_in_sqrt: bool = True,
  state_dtype: Any = None,
) -> ScaleByRss:
  r"""AdaGrad's scaling by the root of the sum of squares (Duchi et al., 2011).

  $$
  G_t = G_{t-1} + |g_t|^2, \qquad u_t = \frac{g_t}{\sqrt{G_t + \epsilon}},
  $$

  with $G_0$ = `initial_accumulator_value`; `eps_in_sqrt=False` gives
  $u_t = g_t / (\sqrt{G_t} + \epsilon)$ (the two forms in the sources). The effective step
  only ever decreases.

  Defaults: `initial_accumulator_value=0.1`, `eps=1e-7`, `eps_in_sqrt=True` (Optax's
  `scale_by_rss`).

  Args:
    initial_accumulator_value: $G_0$.
    eps: $\epsilon$.
    eps_in_sqrt: put $\epsilon$ under the root (else added to it).
    state_dtype: dtype of $G$.

  Returns:
    A `ScaleByRss` transformation with state `ScaleByRssState(sum_of_squares)`.
  """
  return ScaleByRss(initial_accumulator_value, eps, eps_in_sqrt, state_dtype)
