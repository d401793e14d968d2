"""Momentum: heavy-ball `trace` (with Nesterov look-ahead) and moving-average `ema`."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import (
  bias_correction,
  complement,
  compute_dtype,
  map_leaves,
  pick_dtype,
  real_dtype,
  safe_increment,
  zero_count,
  zeros_like,
)
from gradtx.numerics.storage import check_state_dtype, load, store

__all__ = ["Trace", "TraceState", "Ema", "EmaState", "trace", "ema"]


class TraceState(NamedTuple):
  """`trace`: the velocity `v`, shaped like the params."""

  trace: Any


class Trace(GradientTransformation):
  """Heavy-ball momentum; the update rule and defaults are on `trace`."""

  decay: Any = 0.9
  nesterov: bool = static(default=False)
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    _checks.unit_interval("trace", "decay", self.decay)  # 1 as Optax: the velocity sums g
    check_state_dtype("trace", self.state_dtype)

  def init(self, params):
    return TraceState(zeros_like(params, self.state_dtype))

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args

    def leaf(g, t):
      cdt = compute_dtype(g.dtype)
      decay = jnp.asarray(self.decay, real_dtype(cdt))
      g32 = g.astype(cdt)
      v = g32 + decay * load(t, cdt)
      u = g32 + decay * v if self.nesterov else v
      return u.astype(g.dtype), store(v, t, g)

    updates, new_trace = map_leaves(leaf, updates, state.trace, n_out=2)
    return updates, TraceState(new_trace)


class EmaState(NamedTuple):
  """`count`: steps done; `ema`: the moving average `m`."""

  count: jax.Array
  ema: Any


class Ema(GradientTransformation):
  """Moving-average momentum; the update rule and defaults are on `ema`."""

  decay: Any
  debias: bool = static(default=True)
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    _checks.decay_rate("ema", "decay", self.decay)
    check_state_dtype("ema", self.state_dtype)

  def init(self, params):
    return EmaState(zero_count(), zeros_like(params, self.state_dtype))

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    count = safe_increment(state.count)
    correction = bias_correction(self.decay, count) if self.debias else None

    def leaf(g, m):
      cdt = compute_dtype(g.dtype)
      rdt = real_dtype(cdt)
      decay = jnp.asarray(self.decay, rdt)
      m_new = decay * load(m, cdt) + complement(self.decay, cdt) * g.astype(cdt)
      u = m_new / correction.astype(rdt) if correction is not None else m_new
      return u.astype(g.dtype), store(m_new, m, g, count)

    updates, new_ema = map_leaves(leaf, updates, state.ema, n_out=2)
    return updates, EmaState(count, new_ema)


def trace(
  decay: Any = 0.9,
  nesterov: bool = False,
  accumulator_dtype: Any = None,
  *,
  state_dtype: Any = None,
) -> Trace:
  r"""Heavy-ball momentum (Polyak, 1964), with Nesterov's look-ahead as an option.

  $$
  v_t = g_t + \mu\, v_{t-1}, \qquad u_t = v_t,
  $$

  with $\mu$ = `decay` and $v_0 = 0$; with `nesterov=True`, $u_t = g_t + \mu\, v_t$. Followed by `scale(-lr)` this is
  $\Delta w_t = -\eta\, g_t + \mu\, \Delta w_{t-1}$; the Nesterov form is the standard
  reformulation of the look-ahead rule
  $\Delta w_t = -\eta \nabla f(w_t + \mu \Delta w_{t-1}) + \mu \Delta w_{t-1}$
  (Sutskever et al., 2013), whose iterates are the look-ahead points.

  Defaults: `decay=0.9`, `nesterov=False` (Optax's `trace`). `accumulator_dtype` is
  Optax's name for `state_dtype`, the velocity's dtype (default: the params', at least
  float32).

  Args:
    decay: $\mu$, in [0, 1).
    nesterov: Nesterov's look-ahead form.
    accumulator_dtype: Optax's name for `state_dtype`.
    state_dtype: dtype of the velocity.

  Returns:
    A `Trace` transformation with state `TraceState(trace)`.
  """
  return Trace(decay, nesterov, pick_dtype(state_dtype, accumulator_dtype))


def ema(
  decay: Any, debias: bool = True, accumulator_dtype: Any = None, *, state_dtype: Any = None
) -> Ema:
  r"""Exponential-moving-average momentum.

  $$
  m_t = \beta\, m_{t-1} + (1 - \beta)\, g_t, \qquad u_t = \frac{m_t}{1 - \beta^t},
  $$

  with $\beta$ = `decay` and $m_0 = 0$; with `debias=False`, $u_t = m_t$. $\beta = 0.9$ averages about the last 10
  gradients, 0.999 about the last 1000.

  Defaults: `decay` is required; `debias=True` (Optax's `ema`).

  Args:
    decay: $\beta$, in [0, 1).
    debias: divide by $1 - \beta^t$.
    accumulator_dtype: Optax's name for `state_dtype`.
    state_dtype: dtype of the average.

  Returns:
    An `Ema` transformation with state `EmaState(count, ema)`.
  """
  return Ema(decay, debias, pick_dtype(state_dtype, accumulator_dtype))
