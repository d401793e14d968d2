"""`torch.optim.LBFGS` (`line_search_fn=None`): one `update` is one of PyTorch's inner
iterations.

PyTorch's `step(closure)` runs up to `max_iter` iterations, each on a fresh
gradient, keeping `n_iter`, the direction, the step and the curvature pairs in
its state from one `step` to the next. Without a line search each iteration
uses exactly one gradient, so the stream of iterations is what a
`GradientTransformation` does with one gradient per `update`: calling
`update` `max_iter` times is one PyTorch `step` (`max_iter`, `max_eval` and the
tolerances that end a `step` early only group the iterations: PyTorch's default
`max_eval = max_iter * 5 // 4` makes `max_iter=3` do 2 per `step`). PyTorch's strong-Wolfe search evaluates the closure
inside an iteration; for a line search use the solver `gradtx.lbfgs`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.named import named_optimizer
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import zero_count
from gradtx.solvers import _tree
from gradtx.solvers.lbfgs import precondition
from gradtx.torch_optim._common import check_lr

__all__ = ["LBFGS", "TorchLBFGS", "TorchLBFGSState"]


class TorchLBFGSState(NamedTuple):
  """PyTorch's LBFGS state: `n_iter`, the last direction `d` and step `t`, the previous
  gradient, the curvature pairs (`s = t d`, `y = g - g_prev`, stacked on a leading axis
  as a ring of `history_size`), `rho = 1 / <y, s>`, the pairs stored, `H_diag`."""

  n_iter: jax.Array
  d: Any
  t: jax.Array
  prev_grad: Any
  s_memory: Any
  y_memory: Any
  rho: jax.Array
  stored: jax.Array
  h_diag: jax.Array


class TorchLBFGS(GradientTransformation):
  """One inner iteration of `torch.optim.LBFGS` without line search.

  Skipped entirely (no state change, zero update) while `max |g| <= tolerance_grad`.
  Otherwise, after the first iteration the pair `s = t_{k-1} d_{k-1}`,
  `y = g_k - g_{k-1}` is stored if `<y, s> > 1e-10`, with `H_diag = <y, s> / <y, y>`;
  `d_k = -H g_k` by the two-loop recursion (`d_1 = -g_1`);
  `t_1 = lr min(1, 1 / |g_1|_1)`, then `t_k = lr`; the update is `t_k d_k` unless
  `<g_k, d_k> > -tolerance_change` (PyTorch stops before moving; the state still advances).
  """

  lr: Any = 1.0
  tolerance_grad: Any = 1e-7
  tolerance_change: Any = 1e-9
  history_size: int = static(100)

  def init(self, params):
    m = int(self.history_size)
    dtype = _tree.value_dtype(params)
    zeros = jax.tree.map(jnp.zeros_like, params)
    stacked = jax.tree.map(lambda z: jnp.zeros((m,) + z.shape, z.dtype), params)
    return TorchLBFGSState(
      zero_count(),
      zeros,
      jnp.zeros([], dtype),
      zeros,
      stacked,
      stacked,
      jnp.zeros([m], dtype),
      zero_count(),
      jnp.ones([], dtype),
    )

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    g = updates
    m, dtype = int(self.history_size), state.rho.dtype
    first = state.n_iter == 0
    leaves = [jnp.abs(x).astype(dtype) for x in jax.tree.leaves(g)]
    active = jnp.max(jnp.stack([jnp.max(x) for x in leaves])) > self.tolerance_grad
    y = _tree.axpy(jnp.asarray(-1, dtype), state.prev_grad, g)
    s = _tree.scale(state.t, state.d)
    ys = _tree.vdot(y, s, dtype)
    push = ~first & (ys > 1e-10)
    slot = state.stored % m
    s_memory, y_memory = jax.tree.map(
      lambda mem, x: jnp.where(push, mem.at[slot].set(x), mem),
      (state.s_memory, state.y_memory),
      (s, y),
    )
    rho = jnp.where(push, state.rho.at[slot].set(1 / jnp.where(push, ys, 1)), state.rho)
    yy = _tree.sq_norm(y, dtype)
    h_diag = jnp.where(push, ys / jnp.where(push, yy, 1), state.h_diag)
    stored = state.stored + push.astype(state.stored.dtype)
    d = _tree.scale(
      jnp.asarray(-1, dtype), precondition(g, s_memory, y_memory, rho, h_diag, (stored - 1) % m)
    )
    l1 = sum(jnp.sum(x) for x in leaves)
    t = jnp.where(first, jnp.minimum(1.0, 1.0 / l1), 1.0) * jnp.asarray(self.lr, dtype)
    moves = _tree.vdot(g, d, dtype) <= -jnp.asarray(self.tolerance_change, dtype)
    step = _tree.scale(jnp.where(active & moves, t, 0), d)
    new = TorchLBFGSState(state.n_iter + 1, d, t, g, s_memory, y_memory, rho, stored, h_diag)
    return step, _tree.select(active, new, state)


def _LBFGS(
  lr: Any = 1.0,
  max_iter: int = 20,
  max_eval: int | None = None,
  tolerance_grad: Any = 1e-7,
  tolerance_change: Any = 1e-9,
  history_size: int = 100,
  line_search_fn: str | None = None,
) -> GradientTransformation:
  """`torch.optim.LBFGS` with `line_search_fn=None`; one `update` per inner iteration
  (see `TorchLBFGS`): `max_iter` updates are one PyTorch `step(closure)`."""
  check_lr("LBFGS", lr)
  _checks.positive_integer("LBFGS", "max_iter", max_iter)
  _checks.positive_integer("LBFGS", "history_size", history_size)
  if line_search_fn is not None:
    raise ValueError(
      f"LBFGS: line_search_fn={line_search_fn!r} is not supported: PyTorch's "
      "strong-Wolfe search evaluates the closure inside an iteration. Use "
      "gradtx.lbfgs (a zoom strong-Wolfe line search) instead."
    )
  return TorchLBFGS(lr, tolerance_grad, tolerance_change, history_size)


LBFGS = named_optimizer(_LBFGS, static_args=("max_iter", "max_eval", "history_size"))
