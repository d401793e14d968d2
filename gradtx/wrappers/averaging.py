"""Parameter averaging as transformations: an EMA of the params (with TF's warmup or with bias
correction), SWA (Izmailov et al. 2018: a uniform average from a start step, every k steps)
and polynomial-decay averaging (Shamir & Zhang 2013).

Each stage passes the updates through unchanged and keeps the average of the iterates
`w_t = params + updates` in its state, so it belongs last in a chain (after the learning
rate), where `updates` are the final ones: `chain(adamw(1e-3), ema_params(0.999))`.
`averaged_params(state)` reads the average out of the state of any chain holding one stage.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import (
  bias_correction,
  cast,
  compute_dtype,
  map_leaves,
  safe_increment,
  scalar_dtype,
  zero_count,
)
from gradtx.numerics.ops import state_dtype as ops_state_dtype
from gradtx.numerics.storage import check_state_dtype
from gradtx.primitives.decay.weight_decay import require_params

__all__ = [
  "AveragedParamsState",
  "EmaParams",
  "ema_params",
  "Swa",
  "swa",
  "PolynomialAveraging",
  "polynomial_averaging",
  "averaged_params",
]


class AveragedParamsState(NamedTuple):
  """`count`: steps done; `averaged`: the averaged params (read with `averaged_params`)."""

  count: jax.Array
  averaged: Any


class _Averaging(GradientTransformation):
  """Shared body: `avg_t = (1 - a_t) avg_{t-1} + a_t w_t`, `a_t` a scalar per step."""

  state_dtype: Any = static(default=None)
  _owner = ""

  def _weight(self, count: jax.Array) -> jax.Array:  # `a_t` for the step `count` (1-based)
    raise NotImplementedError

  def init(self, params):
    dtype = lambda p: ops_state_dtype(jnp.asarray(p).dtype, self.state_dtype)
    # a copy, never the params' own buffer (a step that donates params and state would
    # otherwise donate one buffer twice)
    return AveragedParamsState(
      zero_count(), jax.tree.map(lambda p: jnp.array(p, dtype(p), copy=True), params)
    )

  def update(self, updates, state, params=None, **extra_args):
    del extra_args
    require_params(self._owner, params, updates)
    count = safe_increment(state.count)
    a = self._weight(count)

    def leaf(u, p, avg):
      cdt = compute_dtype(avg.dtype)
      w = p.astype(cdt) + u.astype(cdt)
      ac = a.astype(cdt)
      return (cast(avg.astype(cdt) + ac * (w - avg.astype(cdt)), avg.dtype),)

    (averaged,) = map_leaves(leaf, updates, params, state.averaged, n_out=1)
    return updates, AveragedParamsState(count, averaged)


class EmaParams(_Averaging):
  """EMA of the params: `avg_t = d_t avg_{t-1} + (1 - d_t) w_t`, `avg_0 = w_0`.

  `d_t = decay`, or with `warmup=True` `d_t = min(decay, (1 + n) / (10 + n))`, `n = t - 1`
  the steps done before this one (TF's `ExponentialMovingAverage(num_updates=...)`). With
  `debias=True` the average is Adam-style bias corrected, `avg_t = ema_t / (1 - decay^t)`
  with `ema_0 = 0`, that is `a_t = (1 - decay) / (1 - decay^t)` (so `avg_1 = w_1`).
  """

  decay: Any = 0.999
  warmup: bool = static(default=False)
  debias: bool = static(default=False)
  _owner = "ema_params"

  def __post_init__(self):
    _checks.decay_rate("ema_params", "decay", self.decay)
    check_state_dtype("ema_params", self.state_dtype)
    if self.warmup and self.debias:
      raise ValueError(
        "ema_params: warmup=True and debias=True are two ways to start the average; pick one."
      )

  def _weight(self, count):
    d = jnp.asarray(self.decay, scalar_dtype())
    if self.debias:
      return (1 - d) / bias_correction(self.decay, count)
    if self.warmup:
      n = (count - 1).astype(scalar_dtype())
      d = jnp.minimum(d, (1 + n) / (10 + n))
    return 1 - d


class Swa(_Averaging):
  """SWA: the uniform average of `w_t` over the steps `t = start, start + every, ...`
  (`t` counts steps from 1); before `start` the average is the current iterate `w_t`.
  With `n` the iterates averaged so far, `a_t = 1 / (n + 1)` on those steps, else 0."""

  start: Any = 1
  every: Any = 1
  _owner = "swa"

  def __post_init__(self):
    _checks.positive_integer("swa", "start", self.start)
    _checks.positive_integer("swa", "every", self.every)
    check_state_dtype("swa", self.state_dtype)

  def _weight(self, count):
    t, start, every = (
      count,
      jnp.asarray(self.start, count.dtype),
      jnp.asarray(self.every, count.dtype),
    )
    on = (t >= start) & ((t - start) % every == 0)
    n = jnp.where(t >= start, (t - start) // every, 0).astype(scalar_dtype())  # averaged before t
    return jnp.where(t < start, 1.0, jnp.where(on, 1 / (n + 1), 0.0)).astype(scalar_dtype())


class PolynomialAveraging(_Averaging):
  """Polynomial-decay averaging (Shamir & Zhang 2013, eq. 9):
  `avg_t = (1 - (1 + gamma) / (t + gamma)) avg_{t-1} + (1 + gamma) / (t + gamma) w_t`,
  so `avg_1 = w_1`; `gamma=0` is the uniform average of `w_1..w_t`. Default `gamma=3`
  (the paper's experiments)."""

  gamma: Any = 3.0
  _owner = "polynomial_averaging"

  def __post_init__(self):
    _checks.non_negative("polynomial_averaging", "gamma", self.gamma)
    check_state_dtype("polynomial_averaging", self.state_dtype)

  def _weight(self, count):
    g = jnp.asarray(self.gamma, scalar_dtype())
    return (1 + g) / (count.astype(scalar_dtype()) + g)


def ema_params(
  decay: Any = 0.999, *, warmup: bool = False, debias: bool = False, state_dtype: Any = None
) -> EmaParams:
  r"""An exponential moving average of the params; passes the updates through.

  With $w_t$ the params after this step's update:

  $$
  \bar w_t = d_t\, \bar w_{t-1} + (1 - d_t)\, w_t, \qquad \bar w_0 = w_0,
  $$

  $d_t$ = `decay`, or with `warmup=True` $d_t = \min(\text{decay}, (1 + n) / (10 + n))$,
  $n = t - 1$ the steps done before this one (TF's
  `ExponentialMovingAverage(num_updates=...)`). With `debias=True` the average is
  Adam-style bias corrected, $\bar w_t = e_t / (1 - \text{decay}^t)$ with $e_0 = 0$
  (so $\bar w_1 = w_1$). Read it with `averaged_params`; it is kept in `state_dtype`
  (default: the param dtype, at least float32).

  Defaults: `decay=0.999`, `warmup=False`, `debias=False` (gradtx's choice, the usual
  value for a parameter EMA; the warm-up is TensorFlow's; Optax has no such stage).

  Args:
    decay: the decay of the average.
    warmup: TensorFlow's `num_updates` warm-up of the decay.
    debias: Adam-style bias correction of the average.
    state_dtype: dtype of the average.
  """
  return EmaParams(state_dtype=state_dtype, decay=decay, warmup=warmup, debias=debias)


def swa(start: Any = 1, every: Any = 1, *, state_dtype: Any = None) -> Swa:
  r"""Stochastic weight averaging of the params (Izmailov et al., 2018); passes the
  updates through.

  The uniform average of $w_t$ (the params after step $t$, counted from 1) over the steps
  $t = a, a + e, a + 2e, \dots$ ($a$ = `start`, $e$ = `every`):

  $$
  \bar w_t = \bar w_{t-1} + \frac{w_t - \bar w_{t-1}}{n + 1}
  $$

  on those steps ($n$ the iterates averaged so far), unchanged on the others; before
  `start` the average is the current iterate. Read it with `averaged_params`.

  Defaults: `start=1`, `every=1` (every step from the first: gradtx's choice; Optax has no
  such stage).

  Args:
    start: $a$, the first step averaged (counted from 1).
    every: $e$, the steps between averaged iterates.
    state_dtype: dtype of the average.
  """
  return Swa(state_dtype=state_dtype, start=start, every=every)


def polynomial_averaging(gamma: Any = 3.0, *, state_dtype: Any = None) -> PolynomialAveraging:
  r"""Polynomial-decay averaging of the params (Shamir & Zhang, 2013, eq. 9); passes the
  updates through.

  $$
  \bar w_t = \Big(1 - \frac{1 + \gamma}{t + \gamma}\Big) \bar w_{t-1}
    + \frac{1 + \gamma}{t + \gamma}\, w_t,
  $$

  so $\bar w_1 = w_1$; $\gamma = 0$ is the uniform average of $w_1, \dots, w_t$. Read it
  with `averaged_params`.

  Defaults: `gamma=3` (the paper's experiments).

  Args:
    gamma: $\gamma \ge 0$.
    state_dtype: dtype of the average.
  """
  return PolynomialAveraging(state_dtype=state_dtype, gamma=gamma)


def averaged_params(state: Any) -> Any:
  """The averaged params held by the one averaging stage in `state` (any optimizer state)."""
  found = [
    s
    for s in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, AveragedParamsState))
    if isinstance(s, AveragedParamsState)
  ]
  if len(found) != 1:
    raise ValueError(
      f"averaged_params: expected a state holding one averaging stage "
      f"(ema_params, swa, polynomial_averaging), found {len(found)}."
    )
  return found[0].averaged
