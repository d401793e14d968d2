"""`torch.optim.LBFGS` (`line_search_fn=None`): one `update` is one of PyTorch's inner
iterations.

PyTorch's `step(closure)` runs up to `max_iter` iterations, each on a fresh
gradient, keeping `n_iter`, the direction, the step and the curvature pairs in
its state from one `step` to the next. Without a line search each iteration
uses exactly one gradient, so the stream of iterations is what a
`GradientTransformation` does with one gradient per `update`: calling
`update` `max_iter` times is one PyTorch `step` (`max_iter`, `max_eval` and the
tolerances that end a `step` early only group the iterations: PyTorch's default
`max_eval = max_iter * 5 // 4` makes `max_iter=3` do 2 per `step`).

With `line_search_fn="strong_wolfe"` an iteration evaluates the closure inside its
line search, so one `update(grads, state, params, value_fn=f)` is one whole PyTorch
`step(closure)` (`TorchLBFGSWolfe`; the search is `_wolfe.strong_wolfe`).
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
from gradtx.torch_optim._wolfe import strong_wolfe

__all__ = ["LBFGS", "TorchLBFGS", "TorchLBFGSState", "TorchLBFGSWolfe", "TorchLBFGSWolfeState"]


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
  history_size: int = static(default=100)

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
    dtype = state.rho.dtype
    active = _max_abs(g, dtype) > self.tolerance_grad
    d, memory, first = _direction(state, g, int(self.history_size))
    t = jnp.where(first, jnp.minimum(1.0, 1.0 / _l1(g, dtype)), 1.0) * jnp.asarray(self.lr, dtype)
    moves = _tree.vdot(g, d, dtype) <= -jnp.asarray(self.tolerance_change, dtype)
    step = _tree.scale(jnp.where(active & moves, t, 0), d)
    new = TorchLBFGSState(state.n_iter + 1, d, t, g, *memory)
    return step, _tree.select(active, new, state)


def _max_abs(tree: Any, dtype: Any) -> jax.Array:
  return jnp.max(jnp.stack([jnp.max(jnp.abs(x)).astype(dtype) for x in jax.tree.leaves(tree)]))


def _l1(tree: Any, dtype: Any) -> jax.Array:
  return sum(
    (jnp.sum(jnp.abs(x).astype(dtype)) for x in jax.tree.leaves(tree)), jnp.zeros([], dtype)
  )


def _direction(state: TorchLBFGSState, g: Any, m: int) -> tuple[Any, tuple, jax.Array]:
  """PyTorch's direction at a new gradient `g`: `d = -g` on the very first iteration;
  otherwise the pair `s = t d`, `y = g - g_prev` is stored if `<y, s> > 1e-10` (the
  oldest dropped past `history_size`, `H_diag = <y, s> / <y, y>`) and `d = -H g` by the
  two-loop recursion. Returns `d`, the memory `(s, y, rho, stored, H_diag)`, `first`."""
  dtype = state.rho.dtype
  first = state.n_iter == 0
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
  return d, (s_memory, y_memory, rho, stored, h_diag), first


class TorchLBFGSWolfeState(NamedTuple):
  """`TorchLBFGSState`'s fields (`lbfgs`) and PyTorch's `func_evals`."""

  lbfgs: TorchLBFGSState
  func_evals: jax.Array


class TorchLBFGSWolfe(GradientTransformation):
  """One `torch.optim.LBFGS(line_search_fn="strong_wolfe").step(closure)` per `update`.

  `update(grads, state, params, value=f(params), value_fn=f)` (`value` optional:
  computed from `value_fn` if absent; `grads` is the gradient at `params`). Nothing
  moves if `max |g| <= tolerance_grad`. Otherwise up to `max_iter` iterations, each:
  the direction of `TorchLBFGS`, the initial step `t = lr min(1, 1 / |g|_1)` on the very
  first iteration and `t = lr` after, stop if `<g, d> > -tolerance_change`, else
  PyTorch's strong-Wolfe search (`c1 = 1e-4`, `c2 = 0.9`, cubic interpolation, at most
  `max_eval - evaluations so far` evaluations) and `w <- w + t d`. The step ends after
  `max_iter` iterations, `max_eval` evaluations, `max |g| <= tolerance_grad`,
  `max |t d| <= tolerance_change` or `|f - f_prev| < tolerance_change`, as in PyTorch.
  """

  lr: Any = 1.0
  tolerance_grad: Any = 1e-7
  tolerance_change: Any = 1e-9
  history_size: int = static(default=100)
  max_iter: int = static(default=20)
  max_eval: int = static(default=25)

  def init(self, params):
    inner = TorchLBFGS(self.lr, self.tolerance_grad, self.tolerance_change, self.history_size)
    return TorchLBFGSWolfeState(inner.init(params), zero_count())

  def update(self, updates, state, params=None, **extra_args):
    value_fn = extra_args.get("value_fn")
    if params is None or value_fn is None:
      raise ValueError(
        "LBFGS(line_search_fn='strong_wolfe'): update needs params and value_fn= "
        "(the closure: the loss as a function of the params)."
      )
    st = state.lbfgs
    dtype = st.rho.dtype
    fg = jax.value_and_grad(value_fn)
    value = extra_args.get("value")
    loss = jnp.asarray(value_fn(params) if value is None else value, dtype)
    m, max_iter, max_eval = int(self.history_size), int(self.max_iter), int(self.max_eval)
    tol_grad = jnp.asarray(self.tolerance_grad, dtype)
    tol_change = jnp.asarray(self.tolerance_change, dtype)
    lr = jnp.asarray(self.lr, dtype)
    one = jnp.ones([], jnp.int32)
    start = (
      jnp.zeros([], jnp.int32),
      st,
      params,
      loss,
      updates,
      one,
      _max_abs(updates, dtype) <= tol_grad,
    )

    def cond(c):
      return (c[0] < max_iter) & ~c[-1]

    def body(c):
      k, st, x, loss, g, evals, _ = c
      d, memory, first = _direction(st, g, m)
      t = jnp.where(first, jnp.minimum(1.0, 1.0 / _l1(g, dtype)), 1.0) * lr
      gtd = _tree.vdot(g, d, dtype)
      flat = gtd > -tol_change

      def search(_):
        f_new, g_new, t_new, n = strong_wolfe(
          lambda p: fg(p), x, t, d, loss, g, gtd, max_eval - evals
        )
        return f_new, _tree.cast_like(g_new, g), t_new, n

      f_new, g_new, t_new, n = jax.lax.cond(
        flat, lambda _: (loss, g, t, jnp.zeros([], jnp.int32)), search, None
      )
      x_new = _tree.cast_like(_tree.select(flat, x, _tree.axpy(t_new, d, x)), x)
      evals = evals + n
      stop = (
        flat
        | (k + 1 == max_iter)
        | (evals >= max_eval)
        | (_max_abs(g_new, dtype) <= tol_grad)
        | (jnp.abs(t_new) * _max_abs(d, dtype) <= tol_change)
        | (jnp.abs(f_new - loss) < tol_change)
      )
      new = TorchLBFGSState(st.n_iter + 1, d, t_new, g, *memory)
      return k + 1, _tree.cast_like(new, st), x_new, f_new, g_new, evals, stop

    _, st, x, _, _, evals, _ = jax.lax.while_loop(cond, body, start)
    step = jax.tree.map(lambda a, b: a - b, x, params)
    return step, TorchLBFGSWolfeState(st, state.func_evals + evals)


def _LBFGS(
  lr: Any = 1.0,
  max_iter: int = 20,
  max_eval: int | None = None,
  tolerance_grad: Any = 1e-7,
  tolerance_change: Any = 1e-9,
  history_size: int = 100,
  line_search_fn: str | None = None,
) -> GradientTransformation:
  r"""`torch.optim.LBFGS`: limited-memory BFGS (Nocedal, 1980), PyTorch's iteration.

  With the stored pairs $s_i = t_i d_i$, $y_i = g_{i+1} - g_i$ (kept if
  $y_i^\top s_i > 10^{-10}$, at most `history_size`), $\rho_i = 1 / y_i^\top s_i$ and
  $H_0 = y^\top s / y^\top y$ of the newest pair, the direction is $d_k = -H_k g_k$ by the
  two-loop recursion ($d_1 = -g_1$):

  $$
  \begin{aligned}
  q &\leftarrow g_k, \quad \alpha_i = \rho_i\, s_i^\top q, \quad
  q \leftarrow q - \alpha_i y_i \quad (i = k-1, \dots, k-m), \qquad r \leftarrow H_0\, q, \\
  \beta_i &= \rho_i\, y_i^\top r, \quad r \leftarrow r + (\alpha_i - \beta_i)\, s_i
  \quad (i = k-m, \dots, k-1), \qquad d_k = -r, \\
  \theta_{k+1} &= \theta_k + t_k d_k, \qquad
  t_1 = \gamma \min(1, 1 / \lVert g_1 \rVert_1), \quad t_k = \gamma \ (k > 1),
  \end{aligned}
  $$

  with $\gamma$ = `lr`; nothing moves while $\max |g_k| \le$ `tolerance_grad` or where
  $g_k^\top d_k > -\tau$, $\tau$ = `tolerance_change`. `line_search_fn=None`: one `update` per inner
  iteration (see `TorchLBFGS`): `max_iter` updates are one PyTorch `step(closure)`.
  `line_search_fn="strong_wolfe"`: one `update(..., value_fn=f)` per `step(closure)`,
  $t_k$ from PyTorch's strong-Wolfe search (see `TorchLBFGSWolfe`).

  Defaults: `lr=1`, `max_iter=20`, `max_eval=max_iter * 5 // 4` (when None),
  `tolerance_grad=1e-7`, `tolerance_change=1e-9`, `history_size=100`,
  `line_search_fn=None` (torch.optim.LBFGS, PyTorch 2.x).

  Args:
    lr: $\gamma$, the step (the initial step of the line search).
    max_iter: iterations per PyTorch `step` (static).
    max_eval: function evaluations per `step` with the line search (static).
    tolerance_grad: the step is skipped while $\max |g| \le$ this.
    tolerance_change: the tolerance on the directional derivative, step and value.
    history_size: $m$, the number of pairs kept (static).
    line_search_fn: None or `"strong_wolfe"`.
  """
  check_lr("LBFGS", lr)
  _checks.positive_integer("LBFGS", "max_iter", max_iter)
  _checks.positive_integer("LBFGS", "history_size", history_size)
  if line_search_fn not in (None, "strong_wolfe"):
    raise ValueError(
      f"LBFGS: line_search_fn={line_search_fn!r} is not supported; "
      "expected None or 'strong_wolfe' (as PyTorch)."
    )
  if line_search_fn is None:
    return TorchLBFGS(lr, tolerance_grad, tolerance_change, history_size)
  max_eval = max_iter * 5 // 4 if max_eval is None else max_eval
  _checks.positive_integer("LBFGS", "max_eval", max_eval)
  return TorchLBFGSWolfe(lr, tolerance_grad, tolerance_change, history_size, max_iter, max_eval)


LBFGS = named_optimizer(_LBFGS, static_args=("max_iter", "max_eval", "history_size"))
