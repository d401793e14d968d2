"""Every `gradtx.schedules` schedule against Optax's function of the same name (float64).

Each case is evaluated at every step from 0 to past its last boundary (so before, at
and after each boundary), vectorised and with Python-int counts, and compared with
Optax 0.2.8 at rtol 1e-12. Then: built inside `jax.vmap` from traced parameters it
equals separate Optax evaluations; passed to a jitted function with a new value it is
not traced again; the arguments Optax turns into constant schedules are accepted with
one warning per call site; the arguments Optax refuses are refused with their names.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from gradtx import schedules as gs

pytestmark = pytest.mark.usefixtures("x64")

RTOL, ATOL = 1e-12, 1e-14

_SGDR = ({"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 2, "decay_steps": 10},
         {"init_value": 0.1, "peak_value": 0.5, "warmup_steps": 3, "decay_steps": 15,
          "end_value": 0.01, "exponent": 2.0})

# (name, args, kwargs, last step to check)
CASES = [
    ("constant_schedule", (0.3,), {}, 5),
    ("linear_schedule", (1.0, 0.1, 10), {}, 14),
    ("linear_schedule", (0.5, 2.0, 7, 3), {}, 14),
    ("polynomial_schedule", (1.0, 0.01, 2.0, 100), {"transition_begin": 5}, 110),
    # 8 steps: XLA turns Optax's division by a constant 9 into a multiplication by 1/9,
    # and sqrt(1 - 9 * (1/9)) is 7e-9, not 0.
    ("polynomial_schedule", (0.2, 1.0, 0.5, 8), {}, 12),
    ("exponential_decay", (1.0, 10, 0.5), {}, 40),
    ("exponential_decay", (2.0, 4, 0.7), {"transition_begin": 3, "staircase": True}, 30),
    ("exponential_decay", (1.0, 5, 0.5), {"end_value": 0.2}, 30),
    ("exponential_decay", (0.1, 3, 1.5), {"end_value": 0.6, "staircase": True}, 30),
    ("cosine_decay_schedule", (1.0, 20), {}, 25),
    ("cosine_decay_schedule", (0.5, 12), {"alpha": 0.1, "exponent": 2.0}, 16),
    ("warmup_cosine_decay_schedule", (0.0, 1.0, 5, 30), {"end_value": 0.01}, 35),
    ("warmup_cosine_decay_schedule", (0.1, 0.8, 0, 12), {"exponent": 1.5}, 15),
    ("warmup_constant_schedule", (0.1, 1.0, 8), {}, 12),
    ("warmup_constant_schedule", (0.0, 2.0, 1), {}, 4),
    ("warmup_exponential_decay_schedule", (0.0, 1.0, 5, 10, 0.5), {}, 40),
    ("warmup_exponential_decay_schedule", (0.2, 1.0, 4, 3, 0.8),
     {"transition_begin": 2, "staircase": True, "end_value": 0.4}, 30),
    ("warmup_exponential_decay_schedule", (1.0, 0.5, 3, 2, 2.0), {"end_value": 3.0}, 20),
    ("piecewise_constant_schedule", (1.0, {3: 0.5, 9: 1.25}), {}, 12),
    ("piecewise_constant_schedule", (2.0, {6: 0.1, 2: 3.0, 4: 0.0}), {}, 8),
    ("piecewise_constant_schedule", (2.0,), {}, 3),
    ("piecewise_interpolate_schedule", ("linear", 1.0, {4: 0.1, 8: 0.01}), {}, 11),
    ("piecewise_interpolate_schedule", ("cosine", 2.0, {0: 0.5, 5: 3.0, 5 + 0: 1.0, 9: 0.2}),
     {}, 12),
    ("piecewise_interpolate_schedule", ("cosine", 1.0, {3: 1.0, 4: 0.0}), {}, 6),
    ("piecewise_interpolate_schedule", ("linear", 0.7, {}), {}, 3),
    ("piecewise_interpolate_schedule", ("linear", 0.7), {}, 3),
    ("linear_onecycle_schedule", (100, 1.0), {}, 105),
    ("linear_onecycle_schedule", (20, 0.5),
     {"pct_start": 0.2, "pct_final": 0.6, "div_factor": 10.0, "final_div_factor": 100.0}, 24),
    ("linear_onecycle_schedule", (1, 1.0), {}, 3),
    ("cosine_onecycle_schedule", (50, 2.0), {}, 55),
    ("cosine_onecycle_schedule", (3, 1.0), {"pct_start": 0.5, "div_factor": 4.0}, 5),
    ("sgdr_schedule", (_SGDR,), {}, 30),
    ("join_schedules", None, {}, 12),  # built below (it takes schedules)
]


def _build(module, name, args, kwargs):
  if name == "join_schedules":
    return module.join_schedules(
        [module.constant_schedule(1.0), module.linear_schedule(1.0, 0.0, 5),
         module.cosine_decay_schedule(0.5, 4)], [4, 9])
  return getattr(module, name)(*args, **kwargs)


def _optax_values(schedule, counts):
  """Optax at float64 counts (at int32 counts some of its rules divide in float32)."""
  return np.asarray(jax.jit(jax.vmap(schedule))(jnp.asarray(counts, jnp.float64)), np.float64)


@jax.jit
def _evaluate(schedule, counts):
  return schedule(counts)


def _ours_values(schedule, counts):
  """Vectorised over an int array of counts, and called with Python ints (jitted: the
  schedule is an argument, so one compilation serves every case of one structure)."""
  out = np.asarray(_evaluate(schedule, jnp.asarray(counts)), np.float64)
  assert out.shape == counts.shape
  sample = [0, len(counts) // 2, len(counts) - 1]
  one_by_one = np.array([float(_evaluate(schedule, int(counts[i]))) for i in sample])
  np.testing.assert_allclose(out[sample], one_by_one, rtol=1e-14, atol=1e-16)
  return out


@pytest.mark.parametrize("name,args,kwargs,last", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_schedule_equals_optax(name, args, kwargs, last):
  counts = np.arange(0, last + 1)
  ours = _build(gs, name, args, kwargs)
  assert isinstance(ours, gradtx.Schedule)
  want = _optax_values(_build(optax.schedules, name, args, kwargs), counts)
  np.testing.assert_allclose(_ours_values(ours, counts), want, rtol=RTOL, atol=ATOL)


def test_negative_counts_of_piecewise_interpolate_are_zero_as_in_optax():
  counts = np.arange(-3, 2)
  ours = gs.piecewise_interpolate_schedule("linear", 1.0, {2: 0.5})
  want = _optax_values(optax.piecewise_interpolate_schedule("linear", 1.0, {2: 0.5}), counts)
  np.testing.assert_allclose(_ours_values(ours, counts), want, rtol=RTOL, atol=ATOL)


def test_every_optax_schedules_name_is_in_gradtx_schedules():
  theirs = {n for n in dir(optax.schedules) if not n.startswith("_")}
  assert not theirs - set(dir(gs))
  assert gs.inject_hyperparams is gradtx.inject_hyperparams
  assert gs.inject_stateful_hyperparams is gradtx.inject_stateful_hyperparams
  assert gs.InjectStatefulHyperparamsState is gradtx.InjectStatefulHyperparamsState


# ---------------------------------------------------------- Optax's constant schedules

CONSTANT_CASES = [
    ("linear_schedule", (1.0, 0.1, 0), {}),
    ("linear_schedule", (1.0, 0.1, -3), {}),
    ("polynomial_schedule", (0.4, 0.1, 2.0, 0), {}),
    ("polynomial_schedule", (0.4, 0.1, 2.0, -1), {"transition_begin": 2}),
    ("exponential_decay", (1.0, 0, 0.5), {}),
    ("exponential_decay", (1.0, -1, 0.5), {"end_value": 2.0}),
    ("exponential_decay", (1.0, 10, 0.0), {}),
    ("exponential_decay", (1.0, 10, 0.0), {"end_value": 0.5, "staircase": True}),
    ("warmup_constant_schedule", (0.3, 1.0, 0), {}),
    ("warmup_exponential_decay_schedule", (0.0, 1.0, 3, 0, 0.5), {}),
    ("warmup_exponential_decay_schedule", (0.0, 1.0, 3, 5, 0.0), {}),
]


@pytest.mark.parametrize("name,args,kwargs", CONSTANT_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CONSTANT_CASES)])
def test_optax_constant_cases_are_accepted_with_a_warning(name, args, kwargs):
  counts = np.arange(0, 12)
  with pytest.warns(gs.ScheduleArgumentWarning, match="constant schedule"):
    ours = _build(gs, name, args, kwargs)
  want = _optax_values(_build(optax.schedules, name, args, kwargs), counts)
  np.testing.assert_allclose(_ours_values(ours, counts), want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name,args", [
    ("linear_schedule", (1.0, 0.0, 10, -3)),
    ("polynomial_schedule", (1.0, 0.0, 2.0, 10, -1)),
    ("exponential_decay", (1.0, 4, 0.5, -2))])
def test_negative_transition_begin_counts_as_zero_with_a_warning(name, args):
  counts = np.arange(0, 15)
  with pytest.warns(gs.ScheduleArgumentWarning, match="transition_begin < 0"):
    ours = getattr(gs, name)(*args)
  want = _optax_values(getattr(optax.schedules, name)(*args), counts)
  np.testing.assert_allclose(_ours_values(ours, counts), want, rtol=RTOL, atol=ATOL)


def test_the_warning_comes_once_per_call_site_and_kind_and_points_at_the_caller():
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("default")
    for steps in (0, -1, -5):
      gs.exponential_decay(1.0, steps, 0.5, transition_begin=steps - 1)  # two kinds, one line
    for _ in range(3):
      gs.linear_schedule(1.0, 0.0, 0)  # a second call site
  ours = [w for w in caught if issubclass(w.category, gs.ScheduleArgumentWarning)]
  assert len(ours) == 3, [str(w.message) for w in ours]
  assert {w.filename for w in ours} == {__file__}
  assert sorted(str(w.message).split(":")[0] for w in ours) == [
      "exponential_decay", "exponential_decay", "linear_schedule"]


def test_traced_constant_cases_follow_optax_at_run_time():
  """A traced transition_steps / decay_rate cannot be checked at construction: the
  schedule decides with jnp.where, and gives Optax's constant values (no warning)."""
  counts = jnp.arange(0, 12)
  steps = jnp.asarray([-1.0, 0.0, 4.0])
  rates = jnp.asarray([0.5, 0.0, 0.3])
  with warnings.catch_warnings():
    warnings.simplefilter("error", gs.ScheduleArgumentWarning)
    got = jax.jit(jax.vmap(lambda n, r: gs.exponential_decay(1.0, n, r, end_value=0.1)(
        counts)))(steps, rates)
    lin = jax.jit(jax.vmap(lambda n: gs.linear_schedule(1.0, 0.2, n)(counts)))(steps)
  for i in range(3):
    n, r = float(steps[i]), float(rates[i])
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")
      want = _optax_values(optax.exponential_decay(1.0, n, r, end_value=0.1), np.arange(12))
      want_lin = _optax_values(optax.linear_schedule(1.0, 0.2, n), np.arange(12))
    np.testing.assert_allclose(np.asarray(got[i]), want, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(np.asarray(lin[i]), want_lin, rtol=RTOL, atol=ATOL)


# -------------------------------------------------------------- errors (Optax's too)


@pytest.mark.parametrize("build,match", [
    (lambda m: m.linear_onecycle_schedule(0, 1.0), "transition_steps=0"),
    (lambda m: m.cosine_onecycle_schedule(-2, 1.0), "transition_steps=-2"),
    (lambda m: m.piecewise_interpolate_schedule("quadratic", 1.0, {2: 0.5}), "interpolate_type"),
    (lambda m: m.piecewise_interpolate_schedule("linear", 1.0, {2: -0.5}), "scale=-0.5"),
    (lambda m: m.piecewise_constant_schedule(1.0, {2: -0.5}), "scale=-0.5"),
    (lambda m: m.cosine_decay_schedule(1.0, 0), "decay_steps=0"),
    (lambda m: m.warmup_cosine_decay_schedule(0.0, 1.0, 5, 5), "decay_steps=5"),
    (lambda m: m.sgdr_schedule([{"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 4,
                                  "decay_steps": 4}]), "decay_steps=4"),
])
def test_what_optax_refuses_is_refused_with_the_argument_named(build, match):
  with pytest.raises(ValueError):
    build(optax.schedules)
  with pytest.raises(ValueError, match=match):
    build(gs)


@pytest.mark.parametrize("build,match", [
    (lambda: gs.linear_schedule(1.0, 0.0, float("nan")), "transition_steps=nan"),
    (lambda: gs.exponential_decay(1.0, 10, -0.5), "decay_rate=-0.5"),
    (lambda: gs.exponential_decay(1.0, 10, 0.5, transition_begin=float("nan")),
     "transition_begin=nan"),
    (lambda: gs.piecewise_interpolate_schedule("linear", 1.0, {-2: 0.5}), "boundary=-2"),
])
def test_gradtx_also_refuses_nonsense_optax_would_turn_into_nan(build, match):
  """Deliberate (docs/differences.md): a NaN step count and a negative decay rate give
  NaN values in Optax; a negative boundary an interval of negative length."""
  with pytest.raises(ValueError, match=match):
    build()


# ------------------------------------------------------------------ vmap and jit

# name -> (builder from traced parameters, parameter lanes, last step)
SWEEPS = {
    "warmup_constant_schedule": (
        lambda m, a, b, n: m.warmup_constant_schedule(a, b, n),
        ([0.0, 0.1, 0.2], [1.0, 2.0, 0.5], [4.0, 8.0, 1.0]), 10),
    "warmup_exponential_decay_schedule": (
        lambda m, peak, rate, n: m.warmup_exponential_decay_schedule(0.0, peak, 3, n, rate,
                                                                     end_value=0.05),
        ([1.0, 0.5, 2.0], [0.5, 0.9, 0.7], [2.0, 5.0, 3.0]), 25),
    "piecewise_interpolate_schedule": (
        lambda m, init, s1, s2: m.piecewise_interpolate_schedule("cosine", init, {3: s1, 7: s2}),
        ([1.0, 0.5, 2.0], [0.1, 2.0, 1.0], [0.5, 0.01, 3.0]), 10),
    "linear_onecycle_schedule": (
        lambda m, peak, div, final: m.linear_onecycle_schedule(20, peak, div_factor=div,
                                                               final_div_factor=final),
        ([1.0, 0.3, 2.0], [25.0, 10.0, 5.0], [1e4, 100.0, 3.0]), 22),
    "cosine_onecycle_schedule": (
        lambda m, peak, div, final: m.cosine_onecycle_schedule(15, peak, div_factor=div,
                                                               final_div_factor=final),
        ([1.0, 0.3, 2.0], [25.0, 10.0, 5.0], [1e4, 100.0, 3.0]), 17),
    "sgdr_schedule": (
        lambda m, p1, p2, end: m.sgdr_schedule([
            {"init_value": 0.0, "peak_value": p1, "warmup_steps": 2, "decay_steps": 6},
            {"init_value": 0.0, "peak_value": p2, "warmup_steps": 1, "decay_steps": 8,
             "end_value": end}]),
        ([1.0, 0.5, 2.0], [0.5, 0.4, 3.0], [0.0, 0.1, 0.3]), 16),
}


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_built_inside_vmap_equals_separate_optax_evaluations(name):
  build, lanes, last = SWEEPS[name]
  counts = np.arange(0, last + 1)
  got = jax.jit(jax.vmap(lambda *p: build(gs, *p)(jnp.asarray(counts))))(
      *[jnp.asarray(lane) for lane in lanes])
  for i in range(len(lanes[0])):
    args = [lane[i] for lane in lanes]
    want = _optax_values(build(optax.schedules, *args), counts)
    np.testing.assert_allclose(np.asarray(got[i]), want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_jit_with_a_new_value_does_not_retrace(name):
  build, lanes, last = SWEEPS[name]
  traces = []

  @jax.jit
  def evaluate(schedule, counts):
    traces.append(1)
    return schedule(counts)

  counts = np.arange(0, last + 1)
  for i in range(len(lanes[0])):
    args = [lane[i] for lane in lanes]
    got = evaluate(build(gs, *args), jnp.asarray(counts))
    want = _optax_values(build(optax.schedules, *args), counts)
    np.testing.assert_allclose(np.asarray(got), want, rtol=RTOL, atol=ATOL)
  assert len(traces) == 1


def test_stacked_schedules_vmap_as_pytrees():
  """A batch of schedules (stacked leaves) is one pytree; vmap over it."""
  peaks = [1.0, 0.25, 4.0]
  stacked = jax.tree.map(lambda *x: jnp.stack([jnp.asarray(v) for v in x]),
                         *[gs.cosine_onecycle_schedule(10, p) for p in peaks])
  counts = np.arange(0, 12)
  got = jax.jit(jax.vmap(lambda s: s(jnp.asarray(counts))))(stacked)
  for i, p in enumerate(peaks):
    want = _optax_values(optax.cosine_onecycle_schedule(10, p), counts)
    np.testing.assert_allclose(np.asarray(got[i]), want, rtol=RTOL, atol=ATOL)


def test_wrapped_schedule_matches_optax():
  ours = gs.WrappedSchedule(gs.linear_schedule(1.0, 0.0, 5))
  theirs = optax.schedules.WrappedSchedule(optax.linear_schedule(1.0, 0.0, 5))
  s, t = ours.init(), theirs.init()
  for _ in range(8):
    # Optax divides the int32 count in float32 here; gradtx in float64.
    np.testing.assert_allclose(float(ours(s)), float(theirs(t)), rtol=1e-7, atol=1e-7)
    assert int(s.count) == int(t.count)
    s, t = ours.update(s, loss=1.0), theirs.update(t, loss=1.0)
  assert isinstance(ours, gs.StatefulSchedule)
