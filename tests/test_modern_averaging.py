"""Parameter averaging stages against NumPy float64 averages of the iterates."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx.wrappers.averaging import averaged_params, ema_params, polynomial_averaging, swa

pytestmark = pytest.mark.usefixtures("x64")

STEPS = 60
SHAPES = {"w": (3, 4), "b": (5,), "s": (), "k": (2, 1, 2, 3)}
LR = 0.1


def _setup(seed=0):
  rng = np.random.default_rng(seed)
  params = {k: rng.normal(size=s) for k, s in SHAPES.items()}
  grads = [{k: rng.normal(size=s) for k, s in SHAPES.items()} for _ in range(STEPS)]
  iterates = [params]
  for g in grads:  # SGD iterates w_t = w_{t-1} - lr g_t
    iterates.append({k: iterates[-1][k] - LR * g[k] for k in SHAPES})
  return params, grads, iterates


def _run(stage, params, grads):
  """`averaged_params` after each step of `chain(sgd, stage)`, and the updates check."""
  tx = gradtx.chain(gradtx.sgd(LR), stage)
  p = jax.tree.map(jnp.asarray, params)
  state = tx.init(p)
  step = jax.jit(lambda p, s, g: tx.update(g, s, p))
  out = []
  for g in grads:
    g = jax.tree.map(jnp.asarray, g)
    u, state = step(p, state, g)
    for k in SHAPES:  # the stage passes the updates through
      np.testing.assert_allclose(u[k], -LR * g[k], rtol=1e-15)
    p = gradtx.apply_updates(p, u)
    out.append(jax.tree.map(np.asarray, averaged_params(state)))
  return out


def _check(out, ref):
  for t, (a, b) in enumerate(zip(out, ref), start=1):
    for k in SHAPES:
      np.testing.assert_allclose(a[k], b[k], rtol=1e-11, atol=1e-13, err_msg=f"step {t}, {k}")


def _np_ema(iterates, decay, warmup=False, debias=False):
  out, avg, raw = [], dict(iterates[0]), {k: np.zeros_like(v) for k, v in iterates[0].items()}
  for t in range(1, len(iterates)):
    w = iterates[t]
    if debias:
      raw = {k: decay * raw[k] + (1 - decay) * w[k] for k in w}
      avg = {k: raw[k] / (1 - decay ** t) for k in w}
    else:
      d = min(decay, (1 + (t - 1)) / (10 + (t - 1))) if warmup else decay
      avg = {k: d * avg[k] + (1 - d) * w[k] for k in w}
    out.append(avg)
  return out


@pytest.mark.parametrize("kwargs", [dict(decay=0.9), dict(decay=0.99, warmup=True),
                                    dict(decay=0.95, debias=True)])
def test_ema_params_matches_numpy(kwargs):
  params, grads, iterates = _setup()
  _check(_run(ema_params(**kwargs), params, grads), _np_ema(iterates, **kwargs))


@pytest.mark.parametrize("start, every", [(1, 1), (10, 3), (25, 7)])
def test_swa_matches_numpy_mean(start, every):
  params, grads, iterates = _setup()
  ref = []
  for t in range(1, STEPS + 1):
    if t < start:
      ref.append(iterates[t])
    else:
      chosen = [iterates[s] for s in range(start, t + 1, every)]
      ref.append({k: np.mean([c[k] for c in chosen], axis=0) for k in SHAPES})
  _check(_run(swa(start, every), params, grads), ref)


@pytest.mark.parametrize("gamma", [0.0, 3.0, 8.5])
def test_polynomial_averaging_matches_numpy(gamma):
  params, grads, iterates = _setup()
  ref, avg = [], None
  for t in range(1, STEPS + 1):
    a = (1 + gamma) / (t + gamma)
    avg = iterates[t] if avg is None else {k: (1 - a) * avg[k] + a * iterates[t][k] for k in SHAPES}
    ref.append(avg)
  _check(_run(polynomial_averaging(gamma), params, grads), ref)
  if gamma == 0.0:  # the uniform average of w_1..w_t
    np.testing.assert_allclose(ref[-1]["w"], np.mean([it["w"] for it in iterates[1:]], axis=0))


def test_averaged_params_finds_the_stage_in_nested_states():
  params, grads, _ = _setup()
  tx = gradtx.chain(gradtx.clip_by_global_norm(1.0),
                    gradtx.chain(gradtx.adam(1e-2), ema_params(0.9)))
  state = tx.init(params)
  np.testing.assert_array_equal(averaged_params(state)["w"], params["w"])
  with pytest.raises(ValueError, match="found 0"):
    averaged_params(gradtx.adam(1e-2).init(params))
  both = gradtx.chain(ema_params(0.9), swa())
  with pytest.raises(ValueError, match="found 2"):
    averaged_params(both.init(params))


def test_state_is_a_copy_so_a_donating_step_works():
  params, grads = {"w": jnp.ones((4, 3))}, {"w": jnp.ones((4, 3))}
  tx = gradtx.chain(gradtx.sgd(0.1), ema_params(0.9))
  state = tx.init(params)
  step = jax.jit(lambda g, s, p: tx.update(g, s, p), donate_argnums=(1, 2))
  _, state = step(grads, state, params)  # donating one buffer twice would raise
  np.testing.assert_allclose(averaged_params(state)["w"], 0.9 * 1.0 + 0.1 * 0.9, rtol=1e-12)


def test_vmap_over_decay_is_separate_runs():
  params, grads, iterates = _setup()
  p0 = jax.tree.map(jnp.asarray, params)

  def run(decay):
    tx = gradtx.chain(gradtx.sgd(LR), ema_params(decay))
    p, s = p0, tx.init(p0)
    for g in grads[:6]:
      u, s = tx.update(jax.tree.map(jnp.asarray, g), s, p)
      p = gradtx.apply_updates(p, u)
    return averaged_params(s)

  swept = jax.jit(jax.vmap(run))(jnp.array([0.5, 0.9]))
  for i, d in enumerate([0.5, 0.9]):
    np.testing.assert_allclose(swept["w"][i], _np_ema(iterates[:7], d)[-1]["w"], rtol=1e-12)


def test_jit_no_retrace_on_new_decay():
  params, grads, _ = _setup()
  traces = []

  @jax.jit
  def step(tx, p, g):
    traces.append(1)
    return tx.update(g, tx.init(p), p)[1]

  step(ema_params(0.9), params, grads[0])
  step(ema_params(0.5), params, grads[0])
  step(swa(3, 2), params, grads[0])
  step(swa(5, 1), params, grads[0])
  assert len(traces) == 2


def test_state_dtype_and_odd_leaves():
  params = {"s": jnp.float32(1.0), "k": jnp.ones((2, 1, 3, 2), jnp.bfloat16), "e": jnp.zeros((0,))}
  for stage in (ema_params(0.9), swa(), polynomial_averaging()):
    state = stage.init(params)
    assert state.averaged["k"].dtype == jnp.float32  # no bf16 average by default
    u, state = jax.jit(stage.update)(params, state, params)
    assert jax.tree.map(jnp.shape, u) == jax.tree.map(jnp.shape, params)
    assert jax.tree.map(jnp.shape, state.averaged) == jax.tree.map(jnp.shape, params)
  assert ema_params(0.9, state_dtype=jnp.bfloat16).init(params).averaged["k"].dtype == jnp.bfloat16


@pytest.mark.parametrize("build, needle", [
    (lambda: ema_params(1.5), "decay"),
    (lambda: ema_params(0.9, warmup=True, debias=True), "warmup"),
    (lambda: swa(0), "start"),
    (lambda: swa(1, 2.5), "every"),
    (lambda: polynomial_averaging(-1.0), "gamma"),
])
def test_validation_names_the_argument(build, needle):
  with pytest.raises(ValueError, match=needle):
    build()


@pytest.mark.parametrize("stage", [ema_params(0.9), swa(), polynomial_averaging()])
def test_missing_params_is_a_clear_error(stage):
  g = {"a": jnp.ones(3)}
  with pytest.raises(ValueError, match="params"):
    stage.update(g, stage.init(g))
