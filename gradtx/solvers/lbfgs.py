"""L-BFGS: the two-loop recursion (Nocedal & Wright, Algorithm 7.4), and `lbfgs`, the
direction followed by a line search (Algorithm 7.5)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.combinators.combine import chain
from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.named import named_optimizer
from gradtx.core.protocol import GradientTransformation, identity
from gradtx.numerics.ops import (
  cast,
  compute_dtype,
  real_dtype,
  safe_increment,
  zero_count,
  zeros_like,
)
from gradtx.primitives.decay.weight_decay import require_params
from gradtx.primitives.scaling.scaling import scale, scale_by_learning_rate
from gradtx.solvers import _tree
from gradtx.solvers.zoom import scale_by_zoom_linesearch

__all__ = ["ScaleByLBFGS", "ScaleByLBFGSState", "lbfgs", "scale_by_lbfgs"]


class ScaleByLBFGSState(NamedTuple):
  """`count`: steps done; `params`, `updates`: the last step's params and incoming
  updates (gradients); `diff_params_memory`, `diff_updates_memory`: the last
  `memory_size` differences `s_i = w_{i+1} - w_i`, `y_i = g_{i+1} - g_i`, stacked on a
  leading axis of each leaf (a ring buffer); `weights_memory`: `rho_i = 1 / <y_i, s_i>`."""

  count: jax.Array
  params: Any
  updates: Any
  diff_params_memory: Any
  diff_updates_memory: Any
  weights_memory: jax.Array


def _at(memory: Any, index: jax.Array) -> Any:
  return jax.tree.map(lambda m: m[index], memory)


def precondition(
  g: Any, s_memory: Any, y_memory: Any, rho: jax.Array, gamma: jax.Array, newest: jax.Array
) -> Any:
  """`H g` by the two-loop recursion (Algorithm 7.4), `H_0 = gamma I`:
  `q = g`; newest to oldest `alpha_i = rho_i <s_i, q>`, `q -= alpha_i y_i`; `r = gamma q`;
  oldest to newest `beta = rho_i <y_i, r>`, `r += (alpha_i - beta) s_i`. Empty slots
  (`rho = 0`, zero pairs) leave the vector unchanged."""
  m = rho.shape[0]
  order = (newest + 1 + jnp.arange(m)) % m  # oldest first
  dtype = rho.dtype

  def backward(q, i):
    alpha = rho[i] * _tree.vdot(_at(s_memory, i), q, dtype)
    return _tree.axpy(-alpha, _at(y_memory, i), q), alpha

  def forward(r, i_alpha):
    i, alpha = i_alpha
    beta = rho[i] * _tree.vdot(_at(y_memory, i), r, dtype)
    return _tree.axpy(alpha - beta, _at(s_memory, i), r), None

  q, alphas = jax.lax.scan(backward, g, order, reverse=True)
  r = jax.tree.map(lambda x: cast(cast(gamma, jnp.promote_types(x.dtype, dtype)) * x, x.dtype), q)
  r, _ = jax.lax.scan(forward, r, (order, alphas))
  return r


class ScaleByLBFGS(GradientTransformation):
  """`u = H_k g_k`, L-BFGS's inverse-Hessian estimate from the last `memory_size` pairs
  `s_i = w_{i+1} - w_i`, `y_i = g_{i+1} - g_i` (Nocedal & Wright, Algorithms 7.4-7.5;
  Liu & Nocedal, 1989), `H_k^0 = gamma_k I` with `gamma_k = <s, y> / <y, y>` of the
  newest pair (N&W eq. 7.20) if `scale_init_precond`, else `gamma = 1`. On the first
  step `gamma_0 = min(1, 1 / |g_0|)` (Optax's heuristic: the first step has length at
  most 1). The new pair is stored before `H_k g_k` is formed, so in `lbfgs` the pair
  comes from the step the line search accepted. A pair that is not finite (a NaN
  gradient) is not stored. Default `memory_size=10` (Optax; N&W suggest 3-20).
  """

  memory_size: int = static(default=10)
  scale_init_precond: bool = static(default=True)
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    _checks.positive_integer("scale_by_lbfgs", "memory_size", self.memory_size)

  def init(self, params):
    m = int(self.memory_size)
    stacked = jax.tree.map(
      lambda z: jnp.zeros((m,) + z.shape, z.dtype), zeros_like(params, self.state_dtype)
    )
    return ScaleByLBFGSState(
      zero_count(),
      zeros_like(params, self.state_dtype),
      zeros_like(params, self.state_dtype),
      stacked,
      stacked,
      jnp.zeros(
        [m],
        _tree.value_dtype(params)
        if self.state_dtype is None
        else real_dtype(jnp.dtype(self.state_dtype)),
      ),
    )

  def update(self, updates, state, params=None, **extra_args):
    del extra_args
    require_params("scale_by_lbfgs", params, updates)
    m, count = int(self.memory_size), state.count
    dtype = compute_dtype(state.weights_memory.dtype)  # the curvature scalars, >= float32
    newest = (count - 1) % m
    s = _tree.axpy(jnp.asarray(-1, dtype), state.params, _tree.cast_like(params, state.params))
    y = _tree.axpy(jnp.asarray(-1, dtype), state.updates, _tree.cast_like(updates, state.updates))
    sy, yy = _tree.vdot(y, s, dtype), _tree.sq_norm(y, dtype)
    rho = jnp.where(sy == 0, jnp.zeros_like(sy), 1 / sy)
    # params are finite, so s is; a non-finite y makes |y|^2 non-finite (no extra reduction)
    keep = (count > 0) & jnp.isfinite(rho) & jnp.isfinite(sy) & jnp.isfinite(yy)
    s, y = _tree.select(keep, (s, y), jax.tree.map(jnp.zeros_like, (s, y)))
    rho = jnp.where(keep, rho, jnp.zeros_like(rho))
    s_memory, y_memory = jax.tree.map(
      lambda mem, x: mem.at[newest].set(x),
      (state.diff_params_memory, state.diff_updates_memory),
      (s, y),
    )
    weights = state.weights_memory.astype(dtype).at[newest].set(rho)
    yy = jnp.where(keep, yy, jnp.zeros_like(yy))
    if self.scale_init_precond:
      gamma = jnp.where(yy > 0, sy / jnp.where(yy > 0, yy, 1), 1)
      first = jnp.minimum(1, 1 / jnp.sqrt(_tree.sq_norm(jax.lax.stop_gradient(updates), dtype)))
      gamma = jnp.where(count > 0, gamma, first).astype(dtype)
    else:
      gamma = jnp.ones([], dtype)
    direction = precondition(
      _tree.cast_like(updates, state.updates), s_memory, y_memory, weights, gamma, newest
    )
    new_state = ScaleByLBFGSState(
      safe_increment(count),
      _tree.cast_like(params, state.params),
      _tree.cast_like(updates, state.updates),
      s_memory,
      y_memory,
      cast(weights, state.weights_memory.dtype),
    )
    return _tree.cast_like(direction, updates), new_state


def scale_by_lbfgs(
  memory_size: int = 10, scale_init_precond: bool = True, *, state_dtype: Any = None
) -> ScaleByLBFGS:
  r"""L-BFGS's direction $u_k = H_k g_k$ (Nocedal & Wright, Algorithms 7.4-7.5; Liu &
  Nocedal, 1989).

  From the last `memory_size` pairs $s_i = w_{i+1} - w_i$, $y_i = g_{i+1} - g_i$,
  $\rho_i = 1 / \langle y_i, s_i \rangle$, the two-loop recursion with $H_k^0 = \gamma_k I$:

  $$
  \begin{aligned}
  q &= g_k; \quad \text{newest to oldest: } \alpha_i = \rho_i \langle s_i, q \rangle,\
    q \leftarrow q - \alpha_i y_i; \quad r = \gamma_k q; \\
  &\text{oldest to newest: } \beta = \rho_i \langle y_i, r \rangle,\
    r \leftarrow r + (\alpha_i - \beta) s_i; \quad u_k = r,
  \end{aligned}
  $$

  with $\gamma_k = \langle s, y \rangle / \langle y, y \rangle$ of the newest pair (N&W
  eq. 7.20) if `scale_init_precond`, else 1; on the first step
  $\gamma_0 = \min(1, 1 / \|g_0\|)$ (Optax's heuristic: a first step of length at most 1).
  The new pair is stored before $H_k g_k$ is formed; a non-finite pair is not stored.

  Defaults: `memory_size=10`, `scale_init_precond=True` (Optax's `scale_by_lbfgs`; N&W
  suggest 3-20).

  Args:
    memory_size: the pairs $(s_i, y_i)$ kept.
    scale_init_precond: $\gamma_k$ from the newest pair (else 1).
    state_dtype: dtype of the stored pairs.
  """
  return ScaleByLBFGS(memory_size, scale_init_precond, state_dtype)


_DEFAULT_LINESEARCH = scale_by_zoom_linesearch(
  max_linesearch_steps=20, initial_guess_strategy="one"
)


def _lbfgs(
  learning_rate: Any = None,
  memory_size: int = 10,
  scale_init_precond: bool = True,
  linesearch: Any = _DEFAULT_LINESEARCH,
  *,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""L-BFGS (Liu & Nocedal, 1989; Nocedal & Wright, Algorithm 7.5).

  $$
  w_{k+1} = w_k - \eta_k\, \alpha\, H_k g_k,
  $$

  with $H_k g_k$ from `scale_by_lbfgs`, $\eta_k$ from `linesearch` and $\alpha$ =
  `learning_rate` if given (else 1). `linesearch=None` takes the fixed step
  $-\alpha H_k g_k$. `update` needs `value`, `grad` and `value_fn` when a line search is
  used.

  Defaults: `learning_rate=None`, `memory_size=10`, `scale_init_precond=True`, `linesearch`
  a strong-Wolfe zoom search of 20 evaluations with first guess 1 (Optax's `lbfgs`;
  Nocedal & Wright suggest a memory of 3-20).

  Args:
    learning_rate: $\alpha$, a number or a schedule, or `None` for 1.
    memory_size: the pairs $(s_i, y_i)$ kept.
    scale_init_precond: $H_k^0 = \gamma_k I$ from the newest pair (else $I$).
    linesearch: a line-search transformation, or `None` for the fixed step.
    state_dtype: dtype of the stored pairs.
  """
  base = scale(-1.0) if learning_rate is None else scale_by_learning_rate(learning_rate)
  return chain(
    scale_by_lbfgs(memory_size, scale_init_precond, state_dtype=state_dtype),
    base,
    identity() if linesearch is None else linesearch,
  )


lbfgs = named_optimizer(_lbfgs, static_args=("memory_size",))
