"""`inject_hyperparams` / `inject_stateful_hyperparams` against Optax's (float64).

Trajectories, stored hyperparameters and the state layout
(`InjectStatefulHyperparamsState`, one `WrappedScheduleState` per schedule) equal
Optax 0.2.8's for gradtx and Optax inner factories; stateful schedules see the
extra arguments; the first update uses step count 0; dtypes follow Optax's rules
except that bfloat16 params keep float32 hyperparameters (docs/differences.md);
Python integers (a PRNG seed) and containers stay static.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from gradtx import schedules as gs

pytestmark = pytest.mark.usefixtures("x64")

RTOL, ATOL = 1e-10, 1e-13


def _params(dtype=jnp.float64):
  return {"w": jnp.asarray([[0.5, -1.0, 2.0], [0.1, 0.2, -0.3]], dtype),
          "b": jnp.asarray([0.3, -0.7], dtype)}


def _grads(params, t):
  return jax.tree.map(lambda p: jnp.sin(p * (t + 1.0)) + 0.1 * t, params)


def _run(tx, steps=8, params=None, **extra):
  """Jitted updates; returns the list of (updates, state) after each step."""
  params = _params() if params is None else params
  state = jax.jit(tx.init)(params)
  update = jax.jit(lambda g, s, p: tx.update(g, s, p, **extra))
  out = []
  for t in range(steps):
    updates, state = update(_grads(params, t), state, params)
    params = jax.tree.map(lambda p, u: p + u, params, updates)
    out.append((updates, state))
  return out


def _f64(schedule):
  """An Optax schedule fed float64 counts: at int32 counts its `count / steps` is float32."""
  return lambda count: schedule(jnp.asarray(count, jnp.float64))


def _close(a, b, rtol=RTOL, atol=ATOL):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(np.asarray(x, np.float64), np.asarray(y, np.float64),
                               rtol=rtol, atol=atol)


@pytest.mark.parametrize("name,kwargs", [
    ("adam", {"learning_rate": "sched", "b1": 0.8}),
    ("sgd", {"learning_rate": 0.05, "momentum": "sched"}),
    ("adamw", {"learning_rate": 0.01, "weight_decay": "sched"}),
])
def test_trajectory_and_hyperparams_equal_optax(name, kwargs):
  def build(mod, sched_mod):
    sched = sched_mod.warmup_cosine_decay_schedule(0.0, 0.9, 3, 8, 0.1)
    sched = sched if mod is gradtx else _f64(sched)
    args = {k: (sched if v == "sched" else v) for k, v in kwargs.items()}
    return mod.inject_hyperparams(getattr(mod, name))(**args)

  ours, theirs = _run(build(gradtx, gs)), _run(build(optax, optax.schedules))
  for (u, s), (v, t) in zip(ours, theirs):
    _close(u, v)
    assert set(s.hyperparams) == set(t.hyperparams)
    _close(s.hyperparams, {k: t.hyperparams[k] for k in s.hyperparams})
    assert type(s).__name__ == type(t).__name__ == "InjectStatefulHyperparamsState"
    assert s._fields == t._fields
    assert set(s.hyperparams_states) == set(t.hyperparams_states)
    for k in s.hyperparams_states:
      assert int(s.hyperparams_states[k].count) == int(t.hyperparams_states[k].count)
    assert int(s.count) == int(t.count)


def test_optax_inner_factory_equals_optax():
  sched = gs.exponential_decay(0.1, 2, 0.5)
  ours = _run(gs.inject_hyperparams(optax.adam)(learning_rate=sched, b2=0.99))
  theirs = _run(optax.inject_hyperparams(optax.adam)(
      learning_rate=_f64(optax.exponential_decay(0.1, 2, 0.5)), b2=0.99))
  for (u, s), (v, t) in zip(ours, theirs):
    _close(u, v)
    _close(s.inner_state, t.inner_state)
    _close(s.hyperparams, t.hyperparams)


class _TotalState(NamedTuple):
  total: jax.Array


class _LossSum:
  """A stateful schedule (Optax's protocol): the sum of the `loss` extra arguments."""

  def init(self):
    return _TotalState(jnp.zeros([], jnp.float64))

  def update(self, state, **extra_args):
    return _TotalState(state.total + extra_args["loss"])

  def __call__(self, state, **extra_args):
    return 0.01 * state.total + 0.001


def test_stateful_schedule_sees_the_extra_arguments_like_optax():
  ours = _run(gs.inject_hyperparams(gradtx.sgd)(learning_rate=_LossSum()), loss=0.5)
  theirs = _run(optax.inject_hyperparams(optax.sgd)(learning_rate=_LossSum()), loss=0.5)
  for (u, s), (v, t) in zip(ours, theirs):
    _close(u, v)
    _close(s.hyperparams, t.hyperparams)
    _close(s.hyperparams_states, t.hyperparams_states)
  np.testing.assert_allclose(float(ours[-1][0 + 1].hyperparams_states["learning_rate"].total),
                             8 * 0.5)


def test_extra_arguments_are_dropped_for_an_inner_update_that_takes_none():
  def plain_scale(step_size):
    def init(params):
      return optax.EmptyState()

    def update(updates, state, params=None):  # no **extra_args
      return jax.tree.map(lambda g: step_size * g, updates), state
    return optax.GradientTransformation(init, update)

  tx = gs.inject_hyperparams(plain_scale)(step_size=_LossSum())
  (u, s), = _run(tx, steps=1, loss=2.0)
  _close(u, jax.tree.map(lambda g: 0.001 * g, _grads(_params(), 0)))
  np.testing.assert_allclose(float(s.hyperparams_states["step_size"].total), 2.0)


def test_first_update_uses_step_count_zero():
  """Optax's test with float gradients (gradtx refuses integer gradient leaves)."""
  tx = gs.inject_hyperparams(gradtx.scale)(lambda count: 1.0 * count)
  g = jnp.asarray([-1.0, 0.0, 1.0])
  state = tx.init(jnp.zeros(3))
  for t in range(3):
    u, state = jax.jit(tx.update)(g, state)
    np.testing.assert_array_equal(np.asarray(u), t * np.asarray(g))


@pytest.mark.parametrize("param_dtype", [jnp.float32, jnp.float64])
def test_default_dtype_follows_the_params_like_optax(param_dtype):
  params = _params(param_dtype)
  for b1, b2 in [(0.9, 0.95), (jnp.asarray(0.9), jnp.asarray(0.95)),
                 (jnp.asarray(0.9, jnp.float32), jnp.asarray(0.95, jnp.bfloat16))]:
    s = gs.inject_hyperparams(gradtx.scale_by_adam)(b1=b1, b2=b2).init(params)
    t = optax.inject_hyperparams(optax.scale_by_adam)(b1=b1, b2=b2).init(params)
    for k in ("b1", "b2", "eps"):
      assert s.hyperparams[k].dtype == t.hyperparams[k].dtype, (k, b1)


def test_bfloat16_params_keep_float32_hyperparameters():
  """Deliberate divergence: Optax stores b2 = 0.95 as bfloat16 (0.94921875)."""
  params = _params(jnp.bfloat16)
  s = gs.inject_hyperparams(gradtx.scale_by_adam)(b1=0.9, b2=0.999).init(params)
  t = optax.inject_hyperparams(optax.scale_by_adam)(b1=0.9, b2=0.999).init(params)
  assert t.hyperparams["b2"].dtype == jnp.bfloat16 and float(t.hyperparams["b2"]) == 1.0
  assert s.hyperparams["b2"].dtype == jnp.float32
  assert float(s.hyperparams["b2"]) == float(np.float32(0.999))


@pytest.mark.parametrize("hp_dtype", [jnp.bfloat16, jnp.float32])
def test_hyperparam_dtype_override_like_optax(hp_dtype):
  params = _params(jnp.float32)
  tx = gs.inject_hyperparams(gradtx.scale_by_adam, hyperparam_dtype=hp_dtype)(b1=0.9, b2=0.95)
  ref = optax.inject_hyperparams(optax.scale_by_adam, hyperparam_dtype=hp_dtype)(b1=0.9,
                                                                              b2=0.95)
  (u, s), = _run(tx, steps=1, params=params)
  (v, t), = _run(ref, steps=1, params=params)
  for k in ("b1", "b2"):
    assert s.hyperparams[k].dtype == t.hyperparams[k].dtype == hp_dtype
  _close(u, v, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("static_args", ["lr", ["lr"], ("step_size", "lr")])
def test_static_args_must_be_parameters(static_args):
  with pytest.raises(ValueError):
    optax.inject_hyperparams(optax.scale, static_args=static_args)
  with pytest.raises(ValueError, match="static_args"):
    gs.inject_hyperparams(gradtx.scale, static_args=static_args)


@pytest.mark.parametrize("static_args", ["b1", ["b1", "b2"]])
def test_numeric_static_args_stay_out_of_the_state_like_optax(static_args):
  s = gs.inject_hyperparams(gradtx.scale_by_adam, static_args=static_args)(b1=0.9, b2=0.95)
  t = optax.inject_hyperparams(optax.scale_by_adam, static_args=static_args)(b1=0.9, b2=0.95)
  assert set(s.init(_params()).hyperparams) == set(t.init(_params()).hyperparams)


def test_an_integer_seed_stays_static_and_equals_the_plain_optimizer():
  """`noisy_sgd(key=0)`: the integer key is not traced (Optax traces it as int32)."""
  tx = gs.inject_hyperparams(gradtx.noisy_sgd)(learning_rate=1e-3, eta=1e-4, key=0)
  plain = gradtx.noisy_sgd(learning_rate=1e-3, eta=1e-4, key=0)
  ours = _run(tx, steps=3)
  ref = _run(plain, steps=3)
  for (u, s), (v, t) in zip(ours, ref):
    _close(u, v, rtol=0, atol=0)
    _close(jax.tree.map(lambda x: jax.random.key_data(x) if jnp.issubdtype(
        x.dtype, jax.dtypes.prng_key) else x, s.inner_state), jax.tree.map(
        lambda x: jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key)
        else x, t), rtol=0, atol=0)
  assert "key" not in ours[0][1].hyperparams
  their_keys = set(optax.inject_hyperparams(optax.noisy_sgd)(
      learning_rate=1e-3, eta=1e-4, key=0).init(_params()).hyperparams)
  assert their_keys - set(ours[0][1].hyperparams) == {"key"}


def test_containers_stay_static():
  def two_betas(learning_rate, betas=(0.9, 0.999)):
    return gradtx.adam(learning_rate, b1=betas[0], b2=betas[1])

  s = gs.inject_hyperparams(two_betas)(0.1).init(_params())
  assert set(s.hyperparams) == {"learning_rate"}


def test_a_typed_prng_key_is_a_hyperparameter_like_optax():
  def noise(key, scale):
    def init(params):
      return (key, scale)

    def update(updates, state, params=None):
      k, sc = state
      k, sub = jax.random.split(k)
      return jax.tree.map(lambda g: g + sc * jax.random.normal(sub, g.shape), updates), (k, sc)
    return optax.GradientTransformation(init, update)

  ours = _run(gs.inject_hyperparams(noise)(key=jax.random.key(3), scale=1e-3), steps=2)
  theirs = _run(optax.inject_hyperparams(noise)(key=jax.random.key(3), scale=1e-3), steps=2)
  for (u, _), (v, _) in zip(ours, theirs):
    _close(u, v, rtol=0, atol=0)


def test_inject_stateful_hyperparams_is_deprecated_and_the_same():
  with pytest.warns(DeprecationWarning, match="inject_hyperparams"):
    tx = gs.inject_stateful_hyperparams(gradtx.sgd)(learning_rate=_LossSum())
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    ref = optax.inject_stateful_hyperparams(optax.sgd)(learning_rate=_LossSum())
  for (u, s), (v, t) in zip(_run(tx, steps=3, loss=1.0), _run(ref, steps=3, loss=1.0)):
    _close(u, v)
    _close(s.hyperparams, t.hyperparams)


def test_vmap_over_a_schedule_parameter_equals_separate_optax_runs():
  peaks = [0.05, 0.1, 0.3]
  params = _params()

  def final_params(peak, mod, sched_mod):
    sched = sched_mod.linear_onecycle_schedule(10, peak)
    tx = mod.inject_hyperparams(mod.adam)(
        learning_rate=sched if mod is gradtx else _f64(sched))
    def body(carry, t):
      p, s = carry
      u, s = tx.update(_grads(p, t), s, p)
      return (jax.tree.map(lambda a, b: a + b, p, u), s), s.hyperparams["learning_rate"]
    (p, _), lrs = jax.lax.scan(body, (params, tx.init(params)), jnp.arange(12.0))
    return p, lrs

  got, got_lrs = jax.jit(jax.vmap(lambda peak: final_params(peak, gradtx, gs)))(
      jnp.asarray(peaks))
  for i, peak in enumerate(peaks):
    want, want_lrs = jax.jit(lambda: final_params(peak, optax, optax.schedules))()
    _close({k: v[i] for k, v in got.items()}, want)
    _close(got_lrs[i], want_lrs)


def test_a_new_value_written_into_the_state_does_not_retrace():
  tx = gs.inject_hyperparams(gradtx.clip_by_global_norm)(0.1)
  traces = []

  @jax.jit
  def step(g, s):
    traces.append(1)
    return tx.update(g, s)

  p = jnp.zeros((3, 5))
  s = tx.init(p)
  for i in range(1, 5):
    s = s._replace(hyperparams={**s.hyperparams, "max_norm": jnp.asarray(float(i))})
    u, s = step(10.0 * jnp.ones_like(p), s)
    np.testing.assert_allclose(float(jnp.linalg.norm(u)), float(i), rtol=1e-12)
  assert len(traces) == 1


def test_hyperparams_of_reads_the_stateful_state():
  tx = gradtx.inject_hyperparams(gradtx.adam)(learning_rate=gs.constant_schedule(0.1))
  (_, s), = _run(tx, steps=1)
  hp = gradtx.hyperparams_of(s)
  assert float(hp["learning_rate"]) == 0.1 and "b1" in hp
