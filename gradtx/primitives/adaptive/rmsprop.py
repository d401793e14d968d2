"""RMSProp: scaling by a moving average of squared gradients (plain or centered)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import (
  abs_sq,
  bias_correction,
  complement,
  compute_dtype,
  full_like,
  hyper,
  map_leaves,
  real_dtype,
  safe_increment,
  zero_count,
  zeros_like,
)
from gradtx.numerics.storage import check_state_dtype, load, store
from gradtx.primitives.adaptive.adagrad import divide_by_root

__all__ = [
  "ScaleByRms",
  "ScaleByRmsState",
  "ScaleByStddev",
  "ScaleByStddevState",
  "scale_by_rms",
  "scale_by_stddev",
]


class ScaleByRmsState(NamedTuple):
  """`count`: steps done; `nu`: the moving average `S` of `|g|^2`."""

  count: jax.Array
  nu: Any


class ScaleByRms(GradientTransformation):
  """RMSProp's scaling; the update rule and defaults are on `scale_by_rms`."""

  decay: Any = 0.9
  eps: Any = 1e-8
  initial_scale: Any = 0.0
  eps_in_sqrt: bool = static(default=True)
  bias_correction: bool = static(default=False)
  state_dtype: Any = static(default=None)

  _owner = "scale_by_rms"

  def __post_init__(self):
    _checks.decay_rate(self._owner, "decay", self.decay)
    _checks.non_negative(self._owner, "eps", self.eps)
    _checks.non_negative(self._owner, "initial_scale", self.initial_scale)
    check_state_dtype(self._owner, self.state_dtype)

  def init(self, params):
    return ScaleByRmsState(
      zero_count(), full_like(params, self.initial_scale, self.state_dtype, real=True)
    )

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    count = safe_increment(state.count)
    correction = bias_correction(self.decay, count) if self.bias_correction else 1.0

    def leaf(g, s):
      cdt = compute_dtype(g.dtype)
      decay = hyper(self.decay, cdt)
      s_new = decay * load(s, real_dtype(cdt)) + complement(self.decay, cdt) * abs_sq(g.astype(cdt))
      s_hat = s_new / hyper(correction, cdt)
      u = divide_by_root(g.astype(cdt), s_hat, hyper(self.eps, cdt), self.eps_in_sqrt)
      return u.astype(g.dtype), store(s_new, s, g, count)

    updates, nu = map_leaves(leaf, updates, state.nu, n_out=2)
    return updates, ScaleByRmsState(count, nu)


class ScaleByStddevState(NamedTuple):
  """`count`; `mu`: moving average of `g`; `nu`: moving average of `|g|^2`."""

  count: jax.Array
  mu: Any
  nu: Any


class ScaleByStddev(ScaleByRms):
  """Centered RMSProp's scaling; the update rule and defaults are on `scale_by_stddev`."""

  _owner = "scale_by_stddev"

  def init(self, params):
    return ScaleByStddevState(
      zero_count(),
      zeros_like(params, self.state_dtype),
      full_like(params, self.initial_scale, self.state_dtype, real=True),
    )

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    count = safe_increment(state.count)
    correction = bias_correction(self.decay, count) if self.bias_correction else 1.0

    def leaf(g, m, s):
      cdt = compute_dtype(g.dtype)
      decay = hyper(self.decay, cdt)
      gc = g.astype(cdt)
      m_new = decay * load(m, cdt) + complement(self.decay, cdt) * gc
      s_new = decay * load(s, real_dtype(cdt)) + complement(self.decay, cdt) * abs_sq(gc)
      c = hyper(correction, cdt)
      # s - |m|^2 >= 0 in exact arithmetic; rounding can take it to 0 or below for a
      # steady gradient. Clamp it, and zero the update only where every gradient was 0.
      var = jnp.maximum(s_new / c - abs_sq(m_new / c), 0.0)
      u = divide_by_root(gc, var, hyper(self.eps, cdt), self.eps_in_sqrt)
      return u.astype(g.dtype), store(m_new, m, g, count), store(s_new, s, g, count)

    updates, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, n_out=3)
    return updates, ScaleByStddevState(count, mu, nu)


def scale_by_rms(
  decay: Any = 0.9,
  eps: Any = 1e-8,
  initial_scale: Any = 0.0,
  eps_in_sqrt: bool = True,
  bias_correction: bool = False,
  *,
  state_dtype: Any = None,
) -> ScaleByRms:
  r"""RMSProp's scaling (Tieleman & Hinton, 2012).

  $$
  S_t = \rho\, S_{t-1} + (1 - \rho)\, |g_t|^2, \qquad
  u_t = \frac{g_t}{\sqrt{S_t + \epsilon}},
  $$

  with $\rho$ = `decay` and $S_0$ = `initial_scale`. `eps_in_sqrt=False` gives
  $u_t = g_t / (\sqrt{S_t} + \epsilon)$ (the two forms in the sources);
  `bias_correction=True` uses $S_t / (1 - \rho^t)$ for $S_t$. $u_t = 0$ where the root
  and $g_t$ are both 0.

  Defaults: `decay=0.9`, `eps=1e-8`, `initial_scale=0`, `eps_in_sqrt=True`,
  `bias_correction=False` (Optax's `scale_by_rms`).

  Args:
    decay: $\rho$.
    eps: $\epsilon$.
    initial_scale: $S_0$.
    eps_in_sqrt: put $\epsilon$ under the root (else added to it).
    bias_correction: divide $S_t$ by $1 - \rho^t$.
    state_dtype: dtype of $S$.

  Returns:
    A `ScaleByRms` transformation with state `ScaleByRmsState(count, nu)`.
  """
  return ScaleByRms(decay, eps, initial_scale, eps_in_sqrt, bias_correction, state_dtype)


def scale_by_stddev(
  decay: Any = 0.9,
  eps: Any = 1e-8,
  initial_scale: Any = 0.0,
  eps_in_sqrt: bool = True,
  bias_correction: bool = False,
  *,
  state_dtype: Any = None,
) -> ScaleByStddev:
  r"""Centered RMSProp's scaling (Graves, 2013).

  $$
  M_t = \rho M_{t-1} + (1 - \rho)\, g_t, \qquad
  S_t = \rho S_{t-1} + (1 - \rho)\, |g_t|^2, \qquad
  u_t = \frac{g_t}{\sqrt{\max(S_t - |M_t|^2, 0) + \epsilon}},
  $$

  with $\rho$ = `decay`, $M_0 = 0$, $S_0$ = `initial_scale`. `eps_in_sqrt=False` puts
  $\epsilon$ outside the root; `bias_correction=True` divides $M_t$ and $S_t$ by
  $1 - \rho^t$ first.

  Defaults: `decay=0.9`, `eps=1e-8`, `initial_scale=0`, `eps_in_sqrt=True`,
  `bias_correction=False` (Optax's `scale_by_stddev`).

  Args:
    decay: $\rho$.
    eps: $\epsilon$.
    initial_scale: $S_0$.
    eps_in_sqrt: put $\epsilon$ under the root (else added to it).
    bias_correction: divide $M_t$ and $S_t$ by $1 - \rho^t$.
    state_dtype: dtype of the averages.

  Returns:
    A `ScaleByStddev` transformation with state `ScaleByStddevState(count, mu, nu)`.
  """
  return ScaleByStddev(decay, eps, initial_scale, eps_in_sqrt, bias_correction, state_dtype)
