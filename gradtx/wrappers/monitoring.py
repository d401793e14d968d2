"""Record measurements of the updates in the state without changing them: `snapshot`,
`monitor` and `measure_with_ema`. Read them back with `gradtx.tree.get(state, name)`
or from the `MonitorState` / `SnapshotState` itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from gradtx.core.module import static
from gradtx.core.protocol import EmptyState, GradientTransformation, as_transformation, stateless
from gradtx.numerics.ops import pick_dtype
from gradtx.primitives.moments.momentum import Ema, ema

__all__ = [
  "SnapshotState",
  "Snapshot",
  "snapshot",
  "MonitorState",
  "Monitor",
  "monitor",
  "MeasureWithEma",
  "measure_with_ema",
]


class SnapshotState(NamedTuple):
  """`measurement`: `{measure_name: measure(updates)}` of the last step (of the params
  after `init`)."""

  measurement: dict


class Snapshot(GradientTransformation):
  """`u = g`; stores `measure(g)` under `measure_name` in the state."""

  measure_name: str = static()
  measure: Callable = static()

  def init(self, params):
    return SnapshotState({self.measure_name: self.measure(params)})

  def update(self, updates, state, params=None, **extra_args):
    del state, params, extra_args
    return updates, SnapshotState({self.measure_name: self.measure(updates)})


def snapshot(measure_name: str, measure: Callable[[Any], Any]) -> Snapshot:
  r"""Stores `measure(updates)` (e.g. `gradtx.tree.norm`) in the state under
  `measure_name`: $u_t = g_t$, state $\leftarrow$ `measure`$(g_t)$.

  Defaults: none (both arguments are required; Optax's `snapshot`).
  """
  return Snapshot(measure_name, measure)


class MonitorState(NamedTuple):
  """`measurements`: name -> the last step's measurement (`{}` after `init`, as in
  Optax); `measure_states`: the stateful measures' states, in the order given."""

  measurements: dict
  measure_states: tuple


class Monitor(GradientTransformation):
  """`u = g`; each measure, a function of the updates or a transformation whose
  output is the measurement (e.g. `measure_with_ema`), records under its name."""

  names: tuple = static(default=())
  measures: tuple = ()

  def init(self, params):
    return MonitorState({}, tuple(m.init(params) for m in self.measures))

  def update(self, updates, state, params=None, **extra_args):
    measurements, states = {}, []
    for name, m, s in zip(self.names, self.measures, state.measure_states):
      measurements[name], s = m.update(updates, s, params, **extra_args)
      states.append(s)
    return updates, MonitorState(measurements, tuple(states))


def monitor(measures: dict[str, Any]) -> Monitor:
  r"""Records `{name: measure}` of the updates in a chain: $u_t = g_t$, and each measure,
  a function of the updates (stateless) or a transformation whose output is the
  measurement (stateful, e.g. `measure_with_ema`), records $m(g_t)$ under its name.

  Defaults: none (`measures` is required; Optax's `monitor`).
  """

  def as_measure(m: Any) -> GradientTransformation:
    if callable(m) and not isinstance(m, GradientTransformation):
      return stateless(lambda u, _, m=m: m(u))
    return as_transformation(m)

  return Monitor(tuple(measures), tuple(as_measure(m) for m in measures.values()))


class MeasureWithEma(GradientTransformation):
  """Output `m_t = decay m_{t-1} + (1 - decay) measure(g_t)` (debiased
  `m_t / (1 - decay^t)`), the moving average of a measurement, for `monitor`.
  State `(EmptyState(), EmaState)`, Optax's (a chain of the measure and `ema`)."""

  measure: Callable = static()
  ema: Ema

  def init(self, params):
    return (EmptyState(), self.ema.init(self.measure(params)))

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    value, ema_state = self.ema.update(self.measure(updates), state[1])
    return value, (state[0], ema_state)


def measure_with_ema(
  measure: Callable[[Any], Any],
  decay: Any,
  debias: bool = True,
  accumulator_dtype: Any = None,
  *,
  state_dtype: Any = None,
) -> MeasureWithEma:
  r"""Moving average of `measure(updates)`, for `monitor`.

  $$
  m_t = \beta\, m_{t-1} + (1 - \beta)\, \text{measure}(g_t), \qquad
  \text{output} = \frac{m_t}{1 - \beta^t}
  $$

  ($m_t$ itself with `debias=False`), $\beta$ = `decay`, $m_0 = 0$. State
  `(EmptyState(), EmaState)`, Optax's (a chain of the measure and `ema`); the average is
  stored in `accumulator_dtype` / `state_dtype` (default: at least float32).

  Defaults: `decay` is required; `debias=True` (Optax's `measure_with_ema`).

  Args:
    measure: a function of the updates.
    decay: $\beta$.
    debias: divide by $1 - \beta^t$.
    accumulator_dtype: Optax's name for `state_dtype`.
    state_dtype: dtype of the average.
  """
  return MeasureWithEma(
    measure, ema(decay, debias, state_dtype=pick_dtype(state_dtype, accumulator_dtype))
  )
