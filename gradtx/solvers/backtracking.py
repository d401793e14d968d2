"""Backtracking line search: the largest step of a geometric sequence that passes
Armijo's sufficient-decrease test (Nocedal & Wright, Algorithm 3.1)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import zeros_like
from gradtx.primitives.decay.weight_decay import require_params
from gradtx.solvers import _tree
from gradtx.solvers.objective import require_objective, split_fn_kwargs

__all__ = [
  "BacktrackingLinesearchInfo",
  "ScaleByBacktrackingLinesearch",
  "ScaleByBacktrackingLinesearchState",
  "scale_by_backtracking_linesearch",
]

_NAME = "scale_by_backtracking_linesearch"


class BacktrackingLinesearchInfo(NamedTuple):
  """`num_linesearch_steps`: objective evaluations of the last search; `decrease_error`:
  how far its step missed the decrease test (0 = passed, inf = non-finite value)."""

  num_linesearch_steps: jax.Array
  decrease_error: jax.Array


class ScaleByBacktrackingLinesearchState(NamedTuple):
  """`learning_rate`: the step accepted last (the next search starts from it); `value`:
  the objective there; `grad`: its gradient there if `store_grad` (else None), reused
  by `value_and_grad_from_state`; `info`: `BacktrackingLinesearchInfo`."""

  learning_rate: jax.Array
  value: jax.Array
  grad: Any
  info: BacktrackingLinesearchInfo


class _Search(NamedTuple):
  learning_rate: jax.Array
  value: jax.Array
  decrease_error: jax.Array
  count: jax.Array


def decrease_error(stepsize, value_step, value_init, slope_init, slope_rtol, rtol):
  """`max(f(w + eta u) - (1 + rtol) f(w) - c eta <u, g>, 0)`, `inf` where it is NaN (a
  non-finite value never passes)."""
  error = value_step - (1 + rtol) * value_init - stepsize * slope_rtol * slope_init
  return jnp.maximum(jnp.where(jnp.isnan(error), jnp.inf, error), 0)


class ScaleByBacktrackingLinesearch(GradientTransformation):
  """`u = eta g` with `eta = min(increase_factor * eta_prev, max_learning_rate) *
  decrease_factor^j`, the first `j = 0, 1, ..., max_backtracking_steps` for which

    f(w + eta g) <= (1 + rtol) f(w) + slope_rtol * eta * <g, grad f(w)> + atol

  (Armijo's condition; Nocedal & Wright, Algorithm 3.1; Vaswani et al., 2019 for
  the increase between searches). If no step passes, the smallest one tried is used;
  if the objective was never finite, `eta = 0` (no step, never a NaN update).
  `g` must be a descent direction (`<g, grad f(w)> < 0`), e.g. `-grad` from `sgd`.
  Defaults (Optax): `slope_rtol=1e-4`, `decrease_factor=0.8`, `increase_factor=1.5`,
  `max_learning_rate=1`, `atol=rtol=0`. Needs `value`, `grad`, `value_fn` (see
  `gradtx.solvers.objective`); `store_grad=True` also returns the gradient at the
  accepted point in the state (one more gradient evaluation per step).
  """

  max_backtracking_steps: Any
  slope_rtol: Any = 1e-4
  decrease_factor: Any = 0.8
  increase_factor: Any = 1.5
  max_learning_rate: Any = 1.0
  atol: Any = 0.0
  rtol: Any = 0.0
  store_grad: bool = static(default=False)
  verbose: bool = static(default=False)

  def __post_init__(self):
    _checks.positive_integer(_NAME, "max_backtracking_steps", self.max_backtracking_steps)
    for name in ("slope_rtol", "atol", "rtol"):
      _checks.non_negative(_NAME, name, getattr(self, name))
    _checks.check(
      _NAME,
      "decrease_factor",
      self.decrease_factor,
      lambda v: (v > 0) & (v <= 1),
      "a value in (0, 1]",
    )
    _checks.positive(_NAME, "increase_factor", self.increase_factor)
    _checks.positive(_NAME, "max_learning_rate", self.max_learning_rate)

  def init(self, params):
    dtype = _tree.value_dtype(params)
    inf = jnp.asarray(jnp.inf, dtype)
    return ScaleByBacktrackingLinesearchState(
      learning_rate=jnp.asarray(1.0, dtype),
      value=inf,
      grad=zeros_like(params) if self.store_grad else None,
      info=BacktrackingLinesearchInfo(jnp.zeros([], jnp.int32), inf),
    )

  def update(
    self, updates, state, params=None, *, value=None, grad=None, value_fn=None, **extra_args
  ):
    require_params(_NAME, params, updates)
    require_objective(_NAME, value=value, grad=grad, value_fn=value_fn)
    assert value_fn is not None  # require_objective raised otherwise
    fn_kwargs = split_fn_kwargs(_NAME, value_fn, extra_args)
    dtype = _tree.value_dtype(params)
    value = jnp.asarray(value).astype(dtype)
    slope = _tree.vdot(updates, grad, dtype)
    hyper = lambda x: jnp.asarray(x).astype(dtype)
    max_steps = self.max_backtracking_steps

    def objective(stepsize):
      return jnp.asarray(value_fn(_tree.axpy(stepsize, updates, params), **fn_kwargs)).astype(dtype)

    # Without a finite value and slope at the start no step can pass: no search.
    hopeful = jnp.isfinite(value) & jnp.isfinite(slope)

    def cond(s: _Search):
      return ~(s.decrease_error <= hyper(self.atol)) & (s.count <= max_steps) & hopeful

    def body(s: _Search):
      stepsize = jnp.where(
        s.count > 0, hyper(self.decrease_factor) * s.learning_rate, s.learning_rate
      )
      value_step = objective(stepsize)
      error = decrease_error(
        stepsize, value_step, value, slope, hyper(self.slope_rtol), hyper(self.rtol)
      )
      return _Search(stepsize, value_step, error, s.count + 1)

    first = jnp.minimum(
      hyper(self.increase_factor) * hyper(state.learning_rate), hyper(self.max_learning_rate)
    )
    s = jax.lax.while_loop(
      cond, body, _Search(first, value, jnp.asarray(jnp.inf, dtype), jnp.zeros([], jnp.int32))
    )
    stepsize = jnp.where(
      jnp.isinf(s.decrease_error), jnp.zeros_like(s.learning_rate), s.learning_rate
    )
    new_grad = None
    if self.store_grad:
      new_grad = jax.lax.cond(
        stepsize == 0,
        lambda: _tree.cast_like(grad, state.grad),
        lambda: _tree.cast_like(
          jax.grad(lambda p: value_fn(p, **fn_kwargs))(_tree.axpy(stepsize, updates, params)),
          state.grad,
        ),
      )
    if self.verbose:
      jax.debug.callback(
        _report,
        s.decrease_error > hyper(self.atol),
        value,
        slope,
        s.learning_rate,
        s.decrease_error,
        ordered=True,
      )
    new_state = ScaleByBacktrackingLinesearchState(
      stepsize, s.value, new_grad, BacktrackingLinesearchInfo(s.count, s.decrease_error)
    )
    return _tree.scale(stepsize, updates), _tree.cast_like(new_state, self.init(params))


def _report(failed, value, slope, stepsize, error) -> None:
  if failed:
    print(
      "INFO: gradtx.scale_by_backtracking_linesearch:\nBacktracking linesearch failed to "
      f"find a stepsize ensuring sufficient decrease.\nValue at current params: {value},\n"
      f"Slope along update direction: {slope}\nStepsize: {stepsize}\n"
      f"Decrease Error: {error}"
    )
    if error == float("inf"):
      print("Using a stepsize of 0 to avoid infinite or nan values.")


def scale_by_backtracking_linesearch(
  max_backtracking_steps: Any,
  slope_rtol: Any = 1e-4,
  decrease_factor: Any = 0.8,
  increase_factor: Any = 1.5,
  max_learning_rate: Any = 1.0,
  atol: Any = 0.0,
  rtol: Any = 0.0,
  store_grad: bool = False,
  verbose: bool = False,
) -> ScaleByBacktrackingLinesearch:
  r"""Armijo backtracking line search (Nocedal & Wright, Algorithm 3.1; Vaswani et al.,
  2019 for the increase between searches).

  $u = \eta\, g$ with $\eta = \min(\kappa_+ \eta_{\mathrm{prev}}, \eta_{\max})\,
  \kappa_-^{\,j}$ for the first $j = 0, 1, \dots$, `max_backtracking_steps` such that

  $$
  f(w + \eta g) \le (1 + r) f(w) + c\, \eta \langle g, \nabla f(w) \rangle + a,
  $$

  with $\kappa_+$ = `increase_factor`, $\kappa_-$ = `decrease_factor`, $\eta_{\max}$ =
  `max_learning_rate`, $c$ = `slope_rtol`, $r$ = `rtol`, $a$ = `atol`. If no step passes,
  the smallest one tried is used; if the objective was never finite, $\eta = 0$. $g$ must
  be a descent direction, e.g. $-\nabla f$ from `sgd`. Needs `value`, `grad`, `value_fn`
  (see `gradtx.solvers.objective`); `store_grad=True` also returns the gradient at the
  accepted point in the state.

  Defaults: `slope_rtol=1e-4`, `decrease_factor=0.8`, `increase_factor=1.5`,
  `max_learning_rate=1`, `atol=0`, `rtol=0` (Optax's `scale_by_backtracking_linesearch`).

  Args:
    max_backtracking_steps: the most shrinking steps per search.
    slope_rtol: $c$, Armijo's constant.
    decrease_factor: $\kappa_-$.
    increase_factor: $\kappa_+$, the growth of the first trial over the last step.
    max_learning_rate: $\eta_{\max}$.
    atol: $a$.
    rtol: $r$.
    store_grad: keep the gradient at the accepted point in the state.
    verbose: print the search.
  """
  return ScaleByBacktrackingLinesearch(
    max_backtracking_steps,
    slope_rtol,
    decrease_factor,
    increase_factor,
    max_learning_rate,
    atol,
    rtol,
    store_grad,
    verbose,
  )
