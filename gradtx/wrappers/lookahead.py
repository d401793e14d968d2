"""Lookahead (Zhang et al. 2019, "Lookahead Optimizer: k steps forward, 1 step back"):
`sync_period` fast steps, then the slow weights move toward the fast ones and the
fast weights restart from them.

Two ways to hold the two sets of weights:

* a plain params tree (gradtx's way, Optax issue #1429): the slow weights live in
  the state (`LookaheadState.slow`), the params are the fast weights, and the sync
  is an update like any other: `u = slow_new - fast`, so after `apply_updates` the
  params are the synced weights. Nothing about the model or the training loop
  changes; evaluate with `state.slow` (equal to the params right after a sync).
* Optax's `LookaheadParams(fast, slow)` as the params: updates come back as a
  `LookaheadParams` pair, exactly as Optax's, and the state keeps no slow weights.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation, as_transformation
from gradtx.numerics.ops import compute_dtype, hyper, map_leaves, zero_count
from gradtx.primitives.decay.weight_decay import require_params

__all__ = ["LookaheadParams", "LookaheadState", "Lookahead", "lookahead"]


class LookaheadParams(NamedTuple):
  """Optax's pair of weights: `fast` (compute gradients with these) and `slow`
  (evaluate with these)."""

  fast: Any
  slow: Any

  @classmethod
  def init_synced(cls, params: Any) -> LookaheadParams:
    """Both sets equal to `params`."""
    return cls(fast=params, slow=params)


class LookaheadState(NamedTuple):
  """`fast_state`: the fast optimizer's state; `steps_since_sync`: fast steps since the
  last sync (0..sync_period-1); `slow`: the slow weights when the params are a plain
  tree (None when they are `LookaheadParams`, which carry them)."""

  fast_state: Any
  steps_since_sync: jax.Array
  slow: Any = None


def _is_pair(params: Any) -> bool:
  """`LookaheadParams`, gradtx's or Optax's (any NamedTuple with fields fast, slow)."""
  return getattr(type(params), "_fields", None) == ("fast", "slow")


class Lookahead(GradientTransformation):
  """With `u` the fast optimizer's update at fast weights `f` and slow weights `s`:
  between syncs `f <- f + u`; every `sync_period`-th step
  `s <- s + alpha (f + u - s)` and `f <- s` (alpha = `slow_step_size`); with
  `reset_state` the fast optimizer's state is re-initialized at each sync.
  Updates must be applied unchanged for fast and slow weights to stay in step.
  """

  fast_optimizer: GradientTransformation
  sync_period: Any = static(default=1)
  slow_step_size: Any = 0.5
  reset_state: bool = static(default=False)

  def __post_init__(self):
    object.__setattr__(self, "fast_optimizer", as_transformation(self.fast_optimizer))
    _checks.positive_integer("lookahead", "sync_period", self.sync_period)
    _checks.unit_interval("lookahead", "slow_step_size", self.slow_step_size)

  def init(self, params):
    if _is_pair(params):
      return LookaheadState(self.fast_optimizer.init(params.fast), zero_count())
    slow = jax.tree.map(jnp.asarray, params)
    return LookaheadState(self.fast_optimizer.init(params), zero_count(), slow)

  def update(self, updates, state, params: Any = None, **extra_args):
    require_params("lookahead", params)
    pair = _is_pair(params)
    fast, slow = (params.fast, params.slow) if pair else (params, state.slow)
    u, fast_state = self.fast_optimizer.update(updates, state.fast_state, fast, **extra_args)
    sync = state.steps_since_sync == self.sync_period - 1

    def leaf(u, f, s):
      cdt = compute_dtype(u.dtype)
      alpha, on = hyper(self.slow_step_size, cdt), sync.astype(cdt)
      diff = f.astype(cdt) + u.astype(cdt) - s.astype(cdt)
      return (
        (u.astype(cdt) - on * (1 - alpha) * diff).astype(u.dtype),
        (on * alpha * diff).astype(s.dtype),
      )

    fast_u, slow_u = map_leaves(leaf, u, fast, slow, n_out=2)
    if self.reset_state:
      fresh = self.fast_optimizer.init(fast)
      fast_state = jax.tree.map(lambda a, b: jnp.where(sync, b, a), fast_state, fresh)
    steps = jnp.where(sync, 0, state.steps_since_sync + 1).astype(jnp.int32)
    if pair:
      return type(params)(fast=fast_u, slow=slow_u), LookaheadState(fast_state, steps)
    new_slow = jax.tree.map(lambda s, d: s + d, slow, slow_u)
    return fast_u, LookaheadState(fast_state, steps, new_slow)


def lookahead(
  fast_optimizer: Any, sync_period: int, slow_step_size: Any, reset_state: bool = False
) -> Lookahead:
  r"""Lookahead around `fast_optimizer` (Zhang et al., 2019); params may be a plain tree
  (slow weights kept in the state) or Optax's `LookaheadParams`.

  With $u$ the fast optimizer's update at fast weights $f$ and slow weights $s$, between
  syncs $f \leftarrow f + u$; every $k$-th step ($k$ = `sync_period`)

  $$
  s \leftarrow s + \alpha\, (f + u - s), \qquad f \leftarrow s,
  $$

  with $\alpha$ = `slow_step_size`; with `reset_state` the fast optimizer's state is
  re-initialized at each sync. Updates must be applied unchanged for fast and slow
  weights to stay in step.

  Defaults: `reset_state=False` (Optax's `lookahead`; the paper uses $k = 5$,
  $\alpha = 0.5$).

  Args:
    fast_optimizer: the inner optimizer, stepping the fast weights.
    sync_period: $k$.
    slow_step_size: $\alpha$.
    reset_state: re-initialize the fast optimizer's state at each sync.
  """
  return Lookahead(fast_optimizer, sync_period, slow_step_size, reset_state)
