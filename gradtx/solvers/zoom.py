"""Zoom line search: a step satisfying the strong Wolfe conditions (Nocedal & Wright,
Algorithms 3.5 and 3.6), with Hager & Zhang's approximate decrease test near a minimum."""

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
from gradtx.solvers._interpolate import zoom_trial
from gradtx.solvers._report import report_zoom
from gradtx.solvers.objective import require_objective, split_fn_kwargs

__all__ = [
  "ScaleByZoomLinesearch",
  "ScaleByZoomLinesearchState",
  "ZoomLinesearchInfo",
  "scale_by_zoom_linesearch",
]

_NAME = "scale_by_zoom_linesearch"


class ZoomLinesearchInfo(NamedTuple):
  """`num_linesearch_steps`: objective evaluations of the last search;
  `decrease_error`, `curvature_error`: how far its step missed each Wolfe condition
  (0 = satisfied; a positive curvature error alone is benign, e.g. a small
  `max_learning_rate`)."""

  num_linesearch_steps: jax.Array
  decrease_error: jax.Array
  curvature_error: jax.Array


class ScaleByZoomLinesearchState(NamedTuple):
  """`learning_rate`: the step accepted last; `value`, `grad`: the objective and its
  gradient there (reused by `value_and_grad_from_state`); `info`: `ZoomLinesearchInfo`."""

  learning_rate: jax.Array
  value: jax.Array
  grad: Any
  info: ZoomLinesearchInfo


class Point(NamedTuple):
  """A step on the line: `phi(stepsize) = f(w + stepsize u)` and `phi'(stepsize)`."""

  stepsize: jax.Array
  value: jax.Array
  slope: jax.Array


class _Search(NamedTuple):
  count: jax.Array
  trial: Point  # the last point evaluated (after a failure: the safe point)
  grad: Any  # gradient at `trial`
  decrease_error: jax.Array
  curvature_error: jax.Array
  bracketed: jax.Array  # phase 2 (zoom, Algorithm 3.6) once an interval is known
  done: jax.Array
  failed: jax.Array
  capped: jax.Array  # stopped at max_learning_rate without an interval
  low: Point  # the interval's end with the lower value (not the smaller step)
  high: Point
  ref: Point  # the previous end, third point of the cubic (slope unused)
  safe: Point  # best point seen that passes the decrease test
  safe_grad: Any


class ScaleByZoomLinesearch(GradientTransformation):
  """`u = eta g` with `eta` satisfying the strong Wolfe conditions on
  `phi(eta) = f(w + eta g)`:

    phi(eta) <= phi(0) + slope_rtol * eta * phi'(0) + tol        (sufficient decrease)
    |phi'(eta)| <= curv_rtol * |phi'(0)| + tol                   (small curvature)

  Phase 1 (Nocedal & Wright, Algorithm 3.5) tries `eta_0` (1, or the last step with
  `initial_guess_strategy="keep"`), then `increase_factor` times the previous trial
  (at most `max_learning_rate`), until an interval holding such a step is found;
  phase 2 (Algorithm 3.6) shrinks it by safeguarded cubic, then quadratic
  interpolation, then bisection. Near a minimum (`phi(eta) <= phi(0) +
  approx_dec_rtol |phi(0)|`) the decrease test may instead be Hager & Zhang's (2006)
  approximate one, `phi'(eta) <= (2 slope_rtol - 1) phi'(0)`; `approx_dec_rtol=None`
  keeps the plain test. The search stops after `max_linesearch_steps` evaluations,
  or once the interval is shorter than `stepsize_precision` and a decreasing step is
  known; it then returns the best step passing the decrease test, or `eta = 0` if
  the objective was never finite there (no step, never a NaN update).
  Defaults (Optax; N&W's c1 = 1e-4, c2 = 0.9): `tol=0`, `increase_factor=2`,
  `approx_dec_rtol=1e-6`, `stepsize_precision=1e-5`, `initial_guess_strategy="keep"`.
  Needs `value`, `grad`, `value_fn` (see `gradtx.solvers.objective`).
  """

  max_linesearch_steps: Any
  max_learning_rate: Any = None
  tol: Any = 0.0
  increase_factor: Any = 2.0
  slope_rtol: Any = 1e-4
  curv_rtol: Any = 0.9
  approx_dec_rtol: Any = 1e-6
  stepsize_precision: Any = 1e-5
  initial_guess_strategy: str = static(default="keep")
  verbose: bool = static(default=False)

  def __post_init__(self):
    _checks.positive_integer(_NAME, "max_linesearch_steps", self.max_linesearch_steps)
    _checks.positive(_NAME, "max_learning_rate", self.max_learning_rate)
    for name in ("tol", "slope_rtol", "curv_rtol", "approx_dec_rtol", "stepsize_precision"):
      _checks.non_negative(_NAME, name, getattr(self, name))
    _checks.positive(_NAME, "increase_factor", self.increase_factor)
    if self.initial_guess_strategy not in ("one", "keep"):
      raise ValueError(
        f"{_NAME}: initial_guess_strategy={self.initial_guess_strategy!r} is "
        "invalid; expected 'one' or 'keep'."
      )

  def init(self, params):
    dtype = _tree.value_dtype(params)
    inf = jnp.asarray(jnp.inf, dtype)
    return ScaleByZoomLinesearchState(
      jnp.asarray(1.0, dtype),
      inf,
      zeros_like(params),
      ZoomLinesearchInfo(jnp.zeros([], jnp.int32), inf, inf),
    )

  def _hyper(self, name: str, dtype: Any) -> jax.Array:
    return jnp.asarray(getattr(self, name)).astype(dtype)

  def _errors(self, point: Point, start: Point) -> tuple:
    """Decrease and curvature errors of `point` (0 = condition met, inf for NaN)."""
    h = lambda name: self._hyper(name, start.value.dtype)
    c1 = h("slope_rtol")
    decrease = point.value - start.value - c1 * point.stepsize * start.slope
    if self.approx_dec_rtol is not None:
      approx = jnp.maximum(
        point.slope - (2 * c1 - 1) * start.slope,
        point.value - start.value - h("approx_dec_rtol") * jnp.abs(start.value),
      )
      decrease = jnp.minimum(approx, decrease)
    curvature = jnp.abs(point.slope) - h("curv_rtol") * jnp.abs(start.slope)
    clean = lambda e: jnp.where(jnp.isnan(e), jnp.inf, jnp.maximum(e, 0))
    return clean(decrease), clean(curvature)

  def update(
    self, updates, state, params=None, *, value=None, grad=None, value_fn=None, **extra_args
  ):
    require_params(_NAME, params, updates)
    require_objective(_NAME, value=value, grad=grad, value_fn=value_fn)
    assert value_fn is not None  # require_objective raised otherwise
    fn_kwargs = split_fn_kwargs(_NAME, value_fn, extra_args)
    dtype = _tree.value_dtype(params)
    h = lambda name: self._hyper(name, dtype)
    value_and_grad = jax.value_and_grad(lambda p: value_fn(p, **fn_kwargs))
    grad = _tree.cast_like(grad, state.grad)
    start = Point(
      jnp.zeros([], dtype), jnp.asarray(value).astype(dtype), _tree.vdot(updates, grad, dtype)
    )
    guess = (
      jnp.asarray(state.learning_rate).astype(dtype)
      if self.initial_guess_strategy == "keep"
      else jnp.ones([], dtype)
    )

    def evaluate(stepsize):
      v, g = value_and_grad(_tree.axpy(stepsize, updates, params))
      # `grad` holds conj(df/dw) for complex params (Optax's convention); JAX returns df/dw
      slope = _tree.vdot(_tree.conj(g), updates, dtype)
      return Point(stepsize, jnp.asarray(v).astype(dtype), slope), _tree.cast_like(g, grad)

    def body(s: _Search) -> _Search:
      expand = jnp.where(s.count == 0, guess, h("increase_factor") * s.trial.stepsize)
      capped_now = jnp.asarray(False)
      if self.max_learning_rate is not None:
        capped_now = expand >= h("max_learning_rate")
        expand = jnp.minimum(expand, h("max_learning_rate"))
      middle, too_small = zoom_trial(s.low, s.high, s.ref, h("stepsize_precision"))
      new, new_grad = evaluate(jnp.where(s.bracketed, middle, expand))
      dec, curv = self._errors(new, start)
      wolfe = jnp.maximum(dec, curv) <= h("tol")
      passes = dec <= h("tol")
      last = s.count + 1 >= self.max_linesearch_steps
      # Algorithm 3.5: the new point ends an interval [prev, new] if it does not decrease
      # enough or is above the previous one; [new, prev] if phi' >= 0 there.
      above = (dec > 0) | ((new.value >= s.trial.value) & (s.count > 0))
      reverse = (new.slope >= 0) & ~above
      found = above | reverse | wolfe
      capped = capped_now & ~found
      b_done = (wolfe & ~above) | capped
      b_low, b_high = _tree.select(reverse, (new, s.trial), (s.trial, new))
      # Algorithm 3.6: the new point replaces `high` if it does not decrease enough or
      # is above `low`; otherwise it becomes `low`, and the old `low` becomes `high` if
      # phi' points away from it.
      z_above = (dec > 0) | (new.value >= s.low.value)
      swap = (new.slope * (s.high.stepsize - s.low.stepsize) >= 0) & ~z_above
      z_high = _tree.select(z_above, new, _tree.select(swap, s.low, s.high))
      z_low = _tree.select(z_above, s.low, new)
      z_ref = _tree.select(z_above | swap, s.high, s.low)
      z_done = wolfe & ~z_above
      pick = lambda zoomed, bracketing: _tree.select(s.bracketed, zoomed, bracketing)
      # The safe point: the last passing trial while bracketing, the lowest one in the zoom.
      keep_new = passes & (~s.bracketed | (new.value < s.safe.value))
      safe, safe_grad = _tree.select(keep_new, (new, new_grad), (s.safe, s.safe_grad))
      done = pick(z_done, b_done)
      stuck = pick(too_small & (safe.stepsize > 0), jnp.asarray(False))
      failed = (last | stuck) & ~done
      # On failure fall back to the safe point (or to no step if nothing was finite).
      fallback = failed & ((safe.stepsize > 0) | jnp.isinf(dec))
      trial, trial_grad = _tree.select(fallback, (safe, safe_grad), (new, new_grad))
      return _Search(
        count=s.count + 1,
        trial=trial,
        grad=trial_grad,
        decrease_error=dec,
        curvature_error=curv,
        bracketed=s.bracketed | found,
        done=done,
        failed=failed,
        capped=pick(jnp.asarray(False), capped),
        low=pick(z_low, b_low),
        high=pick(z_high, b_high),
        ref=pick(z_ref, b_low),
        safe=safe,
        safe_grad=safe_grad,
      )

    inf = jnp.asarray(jnp.inf, dtype)
    false = jnp.asarray(False)
    # Without a finite value and slope at the start no test can pass: no step, no search.
    hopeless = ~(jnp.isfinite(start.value) & jnp.isfinite(start.slope))
    s = _Search(
      jnp.zeros([], jnp.int32),
      start,
      grad,
      inf,
      inf,
      false,
      hopeless,
      false,
      false,
      start,
      start,
      start,
      start,
      grad,
    )
    s = jax.lax.while_loop(lambda s: ~(s.done | s.failed), body, s)
    if self.verbose:
      report_zoom(s, start, self.stepsize_precision)
    stepsize = s.trial.stepsize
    new_state = ScaleByZoomLinesearchState(
      stepsize,
      s.trial.value,
      s.grad,
      ZoomLinesearchInfo(s.count, s.decrease_error, s.curvature_error),
    )
    return _tree.scale(stepsize, updates), _tree.cast_like(new_state, self.init(params))


def scale_by_zoom_linesearch(
  max_linesearch_steps: Any,
  max_learning_rate: Any = None,
  tol: Any = 0.0,
  increase_factor: Any = 2.0,
  slope_rtol: Any = 1e-4,
  curv_rtol: Any = 0.9,
  approx_dec_rtol: Any = 1e-6,
  stepsize_precision: Any = 1e-5,
  initial_guess_strategy: str = "keep",
  verbose: bool = False,
) -> ScaleByZoomLinesearch:
  r"""Strong-Wolfe zoom line search (Nocedal & Wright, Algorithms 3.5-3.6).

  $u = \eta\, g$ with $\eta$ satisfying, for $\phi(\eta) = f(w + \eta g)$,

  $$
  \phi(\eta) \le \phi(0) + c_1 \eta\, \phi'(0) + \tau, \qquad
  |\phi'(\eta)| \le c_2 |\phi'(0)| + \tau,
  $$

  with $c_1$ = `slope_rtol`, $c_2$ = `curv_rtol`, $\tau$ = `tol`. Near a minimum
  ($\phi(\eta) \le \phi(0) + \delta |\phi(0)|$, $\delta$ = `approx_dec_rtol`) the decrease
  test may be Hager & Zhang's (2006) approximate one,
  $\phi'(\eta) \le (2 c_1 - 1)\, \phi'(0)$. Phase 1 tries 1 (or the last step with
  `initial_guess_strategy="keep"`), then `increase_factor` times the previous trial (at
  most `max_learning_rate`); phase 2 zooms by safeguarded cubic, quadratic, then
  bisection steps, stopping after `max_linesearch_steps` evaluations or below
  `stepsize_precision`. If the objective was never finite, $\eta = 0$. Needs `value`,
  `grad`, `value_fn` (see `gradtx.solvers.objective`).

  Defaults: `tol=0`, `increase_factor=2`, `slope_rtol=1e-4`, `curv_rtol=0.9`,
  `approx_dec_rtol=1e-6`, `stepsize_precision=1e-5`, `initial_guess_strategy="keep"`
  (Optax's `scale_by_zoom_linesearch`; N&W's $c_1 = 10^{-4}$, $c_2 = 0.9$).

  Args:
    max_linesearch_steps: the most function evaluations per search.
    max_learning_rate: the largest step tried, or `None` for no bound.
    tol: $\tau$.
    increase_factor: the growth of the trial step in phase 1.
    slope_rtol: $c_1$.
    curv_rtol: $c_2$.
    approx_dec_rtol: $\delta$, or `None` for the plain decrease test.
    stepsize_precision: the interval length the zoom stops at.
    initial_guess_strategy: `"keep"` (the last step) or `"one"`.
    verbose: print the search.
  """
  return ScaleByZoomLinesearch(
    max_linesearch_steps,
    max_learning_rate,
    tol,
    increase_factor,
    slope_rtol,
    curv_rtol,
    approx_dec_rtol,
    stepsize_precision,
    initial_guess_strategy,
    verbose,
  )
