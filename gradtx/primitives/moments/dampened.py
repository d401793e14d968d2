"""Heavy-ball momentum with dampening, whose buffer starts at the first gradient."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import (
  complement,
  compute_dtype,
  hyper,
  map_leaves,
  safe_increment,
  zero_count,
  zeros_like,
)

__all__ = ["DampenedTrace", "DampenedTraceState", "dampened_trace"]


class DampenedTraceState(NamedTuple):
  """`count`: steps done; `trace`: the momentum buffer `b`, shaped like the params."""

  count: jax.Array
  trace: Any


class DampenedTrace(GradientTransformation):
  """Momentum with dampening; the update rule and defaults are on `dampened_trace`."""

  decay: Any = 0.9
  dampening: Any = 0.0
  nesterov: bool = static(default=False)
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    _checks.decay_rate("dampened_trace", "decay", self.decay)
    _checks.unit_interval("dampened_trace", "dampening", self.dampening)

  def init(self, params):
    return DampenedTraceState(zero_count(), zeros_like(params, self.state_dtype))

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    first = state.count == 0

    def leaf(g, b):
      cdt = compute_dtype(g.dtype)
      decay = hyper(self.decay, cdt)
      gc = g.astype(cdt)
      b_new = jnp.where(first, gc, decay * b.astype(cdt) + complement(self.dampening, cdt) * gc)
      u = gc + decay * b_new if self.nesterov else b_new
      return u.astype(g.dtype), b_new.astype(b.dtype)

    updates, trace = map_leaves(leaf, updates, state.trace, n_out=2)
    return updates, DampenedTraceState(safe_increment(state.count), trace)


def dampened_trace(
  decay: Any = 0.9, dampening: Any = 0.0, nesterov: bool = False, *, state_dtype: Any = None
) -> DampenedTrace:
  r"""Momentum with dampening, buffer starting at the first gradient (Sutskever et al.,
  2013; PyTorch's `SGD`).

  $$
  b_1 = g_1, \qquad b_t = \mu\, b_{t-1} + (1 - \tau)\, g_t \quad (t > 1), \qquad u_t = b_t,
  $$

  with $\mu$ = `decay` and $\tau$ = `dampening`; with `nesterov=True`,
  $u_t = g_t + \mu\, b_t$. With $\tau = 0$ this is `trace`
  (whose buffer starts at 0, the same thing).

  Defaults: `decay=0.9` (as `trace`, Optax), `dampening=0` (PyTorch's `SGD`).

  Args:
    decay: $\mu$, in [0, 1).
    dampening: $\tau$, in [0, 1].
    nesterov: Nesterov's look-ahead form.
    state_dtype: dtype of the buffer.

  Returns:
    A `DampenedTrace` transformation with state `DampenedTraceState(count, trace)`.
  """
  return DampenedTrace(decay, dampening, nesterov, state_dtype)
