"""PSGD-Kron against the authors' JAX reference psgd_jax (`kron.py`, float64), step by step;
the factor rebalancing, jit, vmap over the learning rate, odd leaves, validation."""

import importlib.util
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx.optimizers.modern import kron
from gradtx.primitives.preconditioning import kron as kron_module
from gradtx.primitives.preconditioning.kron import kron_update_probability, scale_by_kron

pytestmark = pytest.mark.usefixtures("x64")

STEPS = 70
SHAPES = {"w": (5, 4), "b": (6,), "s": (), "k": (2, 3, 2, 2)}
SMALL = {"w": (5, 4), "s": ()}  # the default run (compiling the reference takes most of it)


def _reference():
  """psgd_jax's `scale_by_kron`; its module imports `optax._src.clipping`, which Optax 0.2.8
  no longer has (and kron does not use), so an empty stand-in is provided if needed."""
  if importlib.util.find_spec("psgd_jax") is None:
    pytest.skip("the reference package psgd-jax is not installed (pip install --no-deps psgd-jax)")
  import optax._src
  try:
    import optax._src.clipping  # noqa: F401
  except ImportError:
    sys.modules["optax._src.clipping"] = types.ModuleType("optax._src.clipping")
    optax._src.clipping = sys.modules["optax._src.clipping"]
  from psgd_jax.kron import scale_by_kron as ref
  return ref


def _data(seed=0, shapes=SHAPES):
  rng = np.random.default_rng(seed)
  params = {k: jnp.asarray(rng.normal(size=s)) for k, s in shapes.items()}
  grads = [{k: jnp.asarray((0.05 if t % 4 == 0 else 1.0) * rng.normal(size=s))
            for k, s in shapes.items()} for t in range(STEPS)]
  return params, grads


_slow = pytest.mark.slow


@pytest.mark.parametrize("kwargs, shapes", [
    ({}, SMALL),
    pytest.param({}, SHAPES, marks=_slow),
    pytest.param(dict(memory_save_mode="one_diag", preconditioner_update_probability=0.3,
                      b1=0.5), SHAPES, marks=_slow),
    pytest.param(dict(memory_save_mode="all_diag", preconditioner_lr=0.3,
                      preconditioner_init_scale=2.0), SHAPES, marks=_slow),
    pytest.param(dict(min_ndim_triangular=1, max_size_triangular=4,
                      momentum_into_precond_update=False), SHAPES, marks=_slow),
    pytest.param(dict(b1=0.0, preconditioner_update_probability=kron_update_probability(
        flat_start=10, decay=0.05)), SHAPES, marks=_slow),
])
def test_scale_by_kron_matches_reference(kwargs, shapes):
  ref = _reference()(**kwargs, precond_update_precision=None)
  ours = scale_by_kron(**kwargs)
  params, grads = _data(shapes=shapes)
  s_ref, s_ours = ref.init(params), ours.init(params)
  q_start = s_ours.qs[0]["w"]
  step_ref, step_ours = jax.jit(ref.update), jax.jit(ours.update)
  q_moved = False
  for t, g in enumerate(grads, start=1):
    u_ref, s_ref = step_ref(g, s_ref, params)
    u_ours, s_ours = step_ours(g, s_ours, params)
    for k in shapes:
      np.testing.assert_allclose(u_ours[k], u_ref[k], rtol=1e-9, atol=1e-12,
                                 err_msg=f"step {t}, {k}")
    np.testing.assert_allclose(s_ours.qs[0]["w"], s_ref["Qs_preconditioners"]["w"][0],
                               rtol=1e-9, atol=1e-12, err_msg=f"step {t}, Q")
    q_moved |= not np.allclose(s_ours.qs[0]["w"], q_start)
  assert q_moved  # the preconditioner was fitted, not left at its start
  assert int(s_ours.update_counter) == int(s_ref["update_counter"])


@_slow
def test_kron_optimizer_trajectory_matches_reference_with_weight_decay():
  ref = _reference()(precond_update_precision=None)
  lr, wd = 3e-2, 0.1
  params, grads = _data(1)
  p_ref, s_ref = dict(params), ref.init(params)
  tx = kron(lr, weight_decay=wd)
  p, s = dict(params), tx.init(params)
  step = jax.jit(lambda p, s, g: tx.update(g, s, p))
  step_ref = jax.jit(ref.update)
  for t, g in enumerate(grads, start=1):
    u_ref, s_ref = step_ref(g, s_ref, p_ref)
    p_ref = {k: p_ref[k] - lr * (u_ref[k] + wd * p_ref[k]) for k in SHAPES}
    u, s = step(p, s, g)
    p = gradtx.apply_updates(p, u)
    for k in SHAPES:
      np.testing.assert_allclose(p[k], p_ref[k], rtol=1e-9, atol=1e-12, err_msg=f"step {t}, {k}")


def test_update_probability_schedule_matches_the_reference_formula():
  sched = kron_update_probability()
  n = np.arange(0, 6000, 37)
  expected = np.minimum(np.maximum(np.exp(-0.001 * (n - 500)), 0.03), 1.0)
  np.testing.assert_allclose(np.asarray(sched(jnp.asarray(n))), expected, rtol=1e-12)


def test_balance_keeps_the_kronecker_product_and_equalizes_scales():
  rng = np.random.default_rng(3)
  qs = (jnp.asarray(np.triu(rng.normal(size=(3, 3))) * 10), jnp.asarray(rng.normal(size=4) * 0.1))
  balanced = kron_module._balance(qs)
  full = lambda q: np.kron(np.asarray(q[0]), np.diag(np.asarray(q[1])))
  np.testing.assert_allclose(full(balanced), full(qs), rtol=1e-12)
  np.testing.assert_allclose(np.max(np.abs(balanced[0])), np.max(np.abs(balanced[1])), rtol=1e-12)


def test_spectral_norm_lower_bound_is_a_tight_lower_bound():
  rng = np.random.default_rng(4)
  for n in (3, 17):
    a = rng.normal(size=(n, n))
    a = a @ a.T
    est = float(jax.jit(kron_module._spectral_norm_lower_bound)(jnp.asarray(a)))
    true = np.linalg.norm(a, 2)
    assert true / np.sqrt(2) - 1e-12 <= est <= true * (1 + 1e-12)
  assert float(kron_module._spectral_norm_lower_bound(jnp.zeros((3, 3)))) == 0.0


def test_jit_no_retrace_on_new_learning_rate():
  params, grads = _data(shapes={"w": (3, 2)})
  traces = []

  @jax.jit
  def step(tx, p, g):
    traces.append(1)
    return tx.update(g, tx.init(p), p)[0]

  a = step(kron(1e-3), params, grads[1])
  b = step(kron(2e-3), params, grads[1])
  assert len(traces) == 1
  np.testing.assert_allclose(b["w"], 2 * a["w"], rtol=1e-12)


@_slow
def test_vmap_over_learning_rate_is_separate_runs():
  params, grads = _data(shapes=SMALL)

  def run(lr):
    tx = kron(lr, weight_decay=0.01)
    p, s = params, tx.init(params)
    for g in grads[:3]:
      u, s = tx.update(g, s, p)
      p = gradtx.apply_updates(p, u)
    return p

  lrs = [1e-3, 1e-2]
  swept = jax.jit(jax.vmap(run))(jnp.asarray(lrs))
  for i, lr in enumerate(lrs):
    one = jax.jit(run)(lr)
    for k in SMALL:
      np.testing.assert_allclose(swept[k][i], one[k], rtol=1e-10, atol=1e-14)


def test_odd_leaves_keep_shapes_dtypes_and_factor_kinds():
  params = {"s": jnp.float32(1.0), "b": jnp.ones(3, jnp.float32),
            "k": jnp.ones((2, 1, 3, 9), jnp.bfloat16), "e": jnp.zeros((0, 3))}
  tx = scale_by_kron(max_size_triangular=8, preconditioner_update_probability=0.5)
  state = tx.init(params)
  kinds = [state.qs[i]["k"].ndim for i in range(4)]
  assert kinds == [2, 1, 2, 1]  # size 1 and size > max_size_triangular are diagonal
  assert state.qs[0]["b"].shape == (3,) and state.qs[1]["b"].size == 0
  assert state.qs[0]["s"].shape == (1,) and state.qs[0]["e"].size == 0
  assert state.qs[0]["k"].dtype == jnp.float32  # not bf16 factors by default
  g = jax.tree.map(lambda x: x * 0.5, params)
  u, new_state = jax.eval_shape(tx.update, g, state, params)  # traced, not compiled (fast)
  for k in params:
    assert u[k].shape == params[k].shape and u[k].dtype == params[k].dtype
  assert jax.tree.map(lambda x: (x.shape, x.dtype), new_state.qs) == jax.tree.map(
      lambda x: (x.shape, x.dtype), state.qs)


@pytest.mark.parametrize("build, needle", [
    (lambda: scale_by_kron(b1=1.0), "b1"),
    (lambda: scale_by_kron(preconditioner_lr=0.0), "preconditioner_lr"),
    (lambda: scale_by_kron(preconditioner_update_probability=1.5),
     "preconditioner_update_probability"),
    (lambda: scale_by_kron(memory_save_mode="some_diag"), "memory_save_mode"),
    (lambda: kron(max_size_triangular=0), "max_size_triangular"),
    (lambda: kron(preconditioner_init_scale=-1.0), "preconditioner_init_scale"),
])
def test_validation_names_the_argument(build, needle):
  with pytest.raises(ValueError, match=needle):
    build()
