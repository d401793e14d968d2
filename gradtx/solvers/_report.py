"""Private: the diagnostics `verbose=True` line searches print (Optax's messages)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

FLAG_INTERVAL_NOT_FOUND = (
  "No interval satisfying curvature condition. Consider increasing "
  "maximal possible stepsize of the linesearch."
)
FLAG_INTERVAL_TOO_SMALL = "Length of searched interval has been reduced below threshold."
FLAG_CURVATURE_COND_NOT_SATISFIED = (
  "Returning stepsize with sufficient decrease but curvature condition not satisfied."
)
FLAG_NO_STEPSIZE_FOUND = "Linesearch failed, no stepsize satisfying sufficient decrease found."
FLAG_NOT_A_DESCENT_DIRECTION = (
  "The linesearch failed because the provided direction is not a descent direction. "
)


def _print_zoom(
  failed,
  capped,
  value_init,
  slope_init,
  stepsize,
  safe_stepsize,
  decrease,
  curvature,
  interval,
  threshold,
) -> None:
  if not (failed or capped):
    return
  print(
    "INFO: gradtx.scale_by_zoom_linesearch:\n"
    f"Value at current params: {value_init}\nSlope along update direction: {slope_init}\n"
    f"Stepsize reached: {stepsize}\nDecrease Error: {decrease}\n"
    f"Curvature Error: {curvature}"
  )
  if capped:
    print(FLAG_INTERVAL_NOT_FOUND + "\n" + FLAG_CURVATURE_COND_NOT_SATISFIED)
    return
  if interval <= threshold:
    print(FLAG_INTERVAL_TOO_SMALL + f" Interval length: {interval}.")
  if safe_stepsize > 0:
    print(
      FLAG_CURVATURE_COND_NOT_SATISFIED
      + f" Stepsize ensuring sufficient decrease: {safe_stepsize}."
    )
    return
  print(FLAG_NO_STEPSIZE_FOUND)
  if slope_init >= 0:
    print(
      FLAG_NOT_A_DESCENT_DIRECTION + f"The slope (={slope_init}) at stepsize=0 should be negative"
    )
  else:
    print("Consider augmenting the maximal number of linesearch iterations.")
    eps = np.finfo(np.float32).eps
    if stepsize < eps:
      print(
        f"Computed stepsize (={stepsize}) is below machine precision (={eps}), consider "
        "passing to higher precision like x64, using "
        "jax.config.update('jax_enable_x64', True)."
      )
    if abs(slope_init) > 1e16:
      print(
        f"Very large absolute slope at stepsize=0. (|slope|={abs(slope_init)}). The "
        "objective is badly conditioned. Consider reparameterizing the objective or "
        "a better initial guess."
      )
  if np.isinf(decrease):
    print(
      "Cannot even make a step without getting Inf or Nan. The linesearch won't make a "
      "step and the optimizer is stuck."
    )
  else:
    print(
      "Making an unsafe step, not decreasing enough the objective. Convergence of the "
      "solver is compromised as it does not reduce values."
    )


def report_zoom(search: Any, start: Any, threshold: Any) -> None:
  """Prints why the search ended, if it failed or stopped at `max_learning_rate`."""
  interval = abs(search.high.stepsize - search.low.stepsize)
  jax.debug.callback(
    _print_zoom,
    search.failed,
    search.capped,
    start.value,
    start.slope,
    search.trial.stepsize,
    search.safe.stepsize,
    search.decrease_error,
    search.curvature_error,
    interval,
    threshold,
    ordered=True,
  )
