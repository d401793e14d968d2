"""Private: the next trial step of the zoom phase (Nocedal & Wright, section 3.5):
safeguarded cubic, then quadratic interpolation, then bisection."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def cubic_minimizer(a, fa, fpa, b, fb, c, fc) -> jax.Array:
  """The local minimizer of the cubic through `(a, fa)` with slope `fpa` at `a`,
  `(b, fb)` and `(c, fc)`: with `p(x) = A d^3 + B d^2 + fpa d + fa`, `d = x - a`,
  `x = a + (-B + sqrt(B^2 - 3 A fpa)) / (3 A)`. NaN or inf when degenerate (then unused)."""
  db, dc = b - a, c - a
  rb, rc = fb - fa - fpa * db, fc - fa - fpa * dc
  denom = (db * dc) ** 2 * (db - dc)
  cubic = (dc**2 * rb - db**2 * rc) / denom
  square = (db**3 * rc - dc**3 * rb) / denom
  return a + (-square + jnp.sqrt(square * square - 3 * cubic * fpa)) / (3 * cubic)


def quadratic_minimizer(a, fa, fpa, b, fb) -> jax.Array:
  """The minimizer of the parabola through `(a, fa)` with slope `fpa` at `a` and `(b, fb)`:
  `x = a - fpa / (2 B)`, `B = (fb - fa - fpa (b - a)) / (b - a)^2`."""
  db = b - a
  curvature = (fb - fa - fpa * db) / db**2
  return a - fpa / (2 * curvature)


def zoom_trial(low: Any, high: Any, ref: Any, threshold: jax.Array) -> tuple:
  """`(step, interval_too_small)`: the cubic minimizer if it lies inside the interval
  away from its ends by 20% of its length, else the quadratic one if 10% away, else
  the midpoint (scipy's and Optax's safeguards)."""
  delta = jnp.abs(high.stepsize - low.stepsize)
  left = jnp.minimum(high.stepsize, low.stepsize)
  right = jnp.maximum(high.stepsize, low.stepsize)
  inside = lambda x, margin: (x > left + margin * delta) & (x < right - margin * delta)
  cubic = cubic_minimizer(
    low.stepsize, low.value, low.slope, high.stepsize, high.value, ref.stepsize, ref.value
  )
  quadratic = quadratic_minimizer(low.stepsize, low.value, low.slope, high.stepsize, high.value)
  middle = (low.stepsize + high.stepsize) / 2
  step = jnp.where(inside(cubic, 0.2), cubic, jnp.where(inside(quadratic, 0.1), quadratic, middle))
  return step, delta <= threshold
