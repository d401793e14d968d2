"""Dtypes and odd trees.

* Low-precision params (bfloat16, float16) keep their dtype through update and
  apply_updates; state defaults to float32 and hyperparameters are never rounded to
  the param dtype (checked against a float64 NumPy reference with float32 state).
* `state_dtype` exists on every stateful optimizer and primitive (found by
  introspection) and sets the dtype of the per-parameter state.
* float64 in x64 mode; complex params (Adam family against NumPy's complex formula
  with |g|^2; SGD); odd trees (None leaves, empty trees, 0-d and zero-size arrays,
  nested containers, NamedTuples, a registered dataclass) for every named optimizer.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import gradtx

import _reliability as R

optimizers = importlib.import_module("gradtx.optimizers")

LOW = [jnp.bfloat16, jnp.float16]


def _params(dtype):
  return {"w": jnp.array([[0.5, -1.0, 2.0], [0.25, 0.75, -0.5]], dtype),
          "b": jnp.array([0.125, -0.25], dtype)}


def _grads(params, k):
  return jax.tree.map(lambda p: (jnp.cos(p.astype(jnp.float32) * (k + 1)) * 0.5)
                      .astype(p.dtype), params)


# --- low precision ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", LOW, ids=["bfloat16", "float16"])
@pytest.mark.parametrize("name", R.NAMES)
def test_low_precision_params_keep_their_dtype(name, dtype):
  tx = R.make(name)
  params = _params(dtype)
  state = tx.init(params)
  for leaf in R.per_leaf_state(state):
    assert leaf.dtype == jnp.float32, (name, leaf.dtype)
  for k in range(3):
    updates, state = tx.update(_grads(params, k), state, params)
    for u in jax.tree.leaves(updates):
      assert u.dtype == dtype, (name, u.dtype)
    params = gradtx.apply_updates(params, updates)
    for p in jax.tree.leaves(params):
      assert p.dtype == dtype, (name, p.dtype)
  for leaf in R.per_leaf_state(state):
    assert leaf.dtype == jnp.float32, (name, leaf.dtype)
  assert R.all_finite(params) and R.all_finite(state)


def _bf16(x):
  return np.asarray(x, np.float64).astype(ml_dtypes.bfloat16).astype(np.float64)


def test_bfloat16_adam_keeps_b2_unrounded_against_numpy():
  """b2 = 0.999 is 1.0 in bfloat16; the second moment must still decay by 0.999."""
  lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
  assert float(jnp.asarray(b2, jnp.bfloat16)) == 1.0  # why the test matters
  # The update as Adam computes it (the final low-precision compensation stage is tested in
  # tests/test_lowp.py): nearest rounding of p + u, as p_ref below.
  tx = R.uncompensated(gradtx.adam(lr, b1=b1, b2=b2, eps=eps))
  p = jnp.array([0.5, -1.0, 2.0, 3.0], jnp.bfloat16)
  g_seq = [np.array([0.5, -0.25, 1.0, 2.0])] * 5 + [np.zeros(4)] * 5
  state = tx.init(p)

  m = np.zeros(4, np.float32)
  v = np.zeros(4, np.float32)
  p_ref = np.asarray(p, np.float64)
  nus = []
  for t, g in enumerate(g_seq, start=1):
    updates, state = tx.update(jnp.asarray(g, jnp.bfloat16), state, p)
    p = gradtx.apply_updates(p, updates)
    # NumPy float64 arithmetic, state stored in float32 after each step.
    m = (b1 * m.astype(np.float64) + (1 - b1) * g).astype(np.float32)
    v = (b2 * v.astype(np.float64) + (1 - b2) * g * g).astype(np.float32)
    m_hat = m / (1 - b1 ** t)
    v_hat = v / (1 - b2 ** t)
    u = -lr * m_hat / (np.sqrt(v_hat) + eps)
    p_ref = _bf16(p_ref + _bf16(u))
    mu, nu = state[0].mu, state[0].nu
    assert mu.dtype == nu.dtype == jnp.float32
    np.testing.assert_allclose(mu, m, rtol=1e-6, atol=1e-12, err_msg=f"mu at step {t}")
    # 1 - b2 computed in float32 from float32(0.999) carries a relative error of about
    # 2^-24 / 1e-3 ~ 6e-5; a bfloat16 b2 would give 1 - b2 = 0 and nu = 0.
    np.testing.assert_allclose(nu, v, rtol=1e-4, atol=1e-12, err_msg=f"nu at step {t}")
    np.testing.assert_allclose(np.asarray(updates, np.float64), _bf16(u), rtol=2 ** -7,
                               err_msg=f"update at step {t}")
    nus.append(np.asarray(nu, np.float64))
  # Zero gradients from step 6 on: nu decays by exactly b2 (in float32) each step.
  for a, b in zip(nus[5:], nus[6:]):
    np.testing.assert_allclose(b, a * b2, rtol=1e-6)
    assert np.all(b < a)
  np.testing.assert_allclose(np.asarray(p, np.float64), p_ref, rtol=2 ** -7, atol=1e-3)


@pytest.mark.parametrize("name", ["adam", "sgd+momentum", "rmsprop", "lion"])
def test_bfloat16_hyperparameters_are_not_rounded(name):
  """The bfloat16 run equals a float32 run with the same (float32) state to float32
  accuracy on the first step: nothing is computed with bfloat16 hyperparameters. The
  updates agree to 2 bfloat16 roundings: each stage of a chain hands the next an update
  in the param dtype (here the scaled direction, then its product with -lr)."""
  params32 = jax.tree.map(lambda p: p.astype(jnp.float32), _params(jnp.bfloat16))
  params16 = _params(jnp.bfloat16)
  tx = R.uncompensated(R.make(name))  # before the bf16-param compensation stage
  g16 = _grads(params16, 0)
  u16, s16 = tx.update(g16, tx.init(params16), params16)
  u32, s32 = tx.update(jax.tree.map(lambda g: g.astype(jnp.float32), g16), tx.init(params32),
                       params32)
  R.assert_trees_close(R.per_leaf_state(s16), R.per_leaf_state(s32), rtol=1e-6, atol=0,
                       err=name)
  for a, b in zip(jax.tree.leaves(u16), jax.tree.leaves(u32)):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                               rtol=2 ** -7, atol=0)


def _linear_regression(name, dtype, steps=300):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(64, 3))
  w_true = np.array([1.5, -2.0, 0.5])
  y = x @ w_true + 0.25
  x, y = jnp.asarray(x, dtype), jnp.asarray(y, dtype)
  tx = R.make(name, learning_rate=0.05)
  params = {"w": jnp.zeros(3, dtype), "c": jnp.zeros((), dtype)}

  def loss(p):
    r = x @ p["w"] + p["c"] - y
    return jnp.mean(r.astype(jnp.float32) ** 2)

  def body(carry, _):
    p, s = carry
    g = jax.grad(loss)(p)
    u, s = tx.update(g, s, p)
    return (gradtx.apply_updates(p, u), s), None

  (params, _), _ = jax.jit(lambda c: jax.lax.scan(body, c, None, length=steps))(
      (params, tx.init(params)))
  return params, float(loss(params))


@pytest.mark.parametrize("name", ["adam", "sgd+momentum"])
def test_linear_regression_in_bfloat16_tracks_float32(name):
  p32, loss32 = _linear_regression(name, jnp.float32)
  p16, loss16 = _linear_regression(name, jnp.bfloat16)
  assert p16["w"].dtype == jnp.bfloat16
  assert loss32 < 1e-3, loss32
  # bfloat16 has 8 bits of mantissa: parameters near 2 are resolved to about 0.008.
  np.testing.assert_allclose(np.asarray(p16["w"], np.float64), np.asarray(p32["w"]),
                             atol=0.05)
  np.testing.assert_allclose(float(p16["c"]), float(p32["c"]), atol=0.05)
  assert loss16 < 0.01, loss16


# --- state_dtype on every stateful optimizer / primitive --------------------------------------

_MODULES = ["gradtx", "gradtx.optimizers", "gradtx.primitives.adaptive.adagrad", "gradtx.primitives.moments.adam", "gradtx.primitives.adaptive.rmsprop",
            "gradtx.primitives.moments.momentum", "gradtx.primitives.moments.radam", "gradtx.primitives.moments.belief", "gradtx.primitives.adaptive.adadelta",
            "gradtx.primitives.moments.lion", "gradtx.primitives.adaptive.factored", "gradtx.primitives.scaling.trust_ratio", "gradtx.primitives.clipping.clipping",
            "gradtx.primitives.scaling.scaling", "gradtx.primitives.decay.weight_decay", "gradtx.wrappers.accumulation", "gradtx.wrappers.finite"]
# Wrappers: their per-parameter state is the inner transformation's.
_WRAPPERS = {"chain", "masked", "partition", "multi_transform", "freeze", "param_groups",
             "inject_hyperparams", "apply_if_finite"}
_REQUIRED = {"learning_rate": 0.1, "decay": 0.9, "step_size": 0.1, "max_delta": 1.0,
             "max_norm": 1.0, "threshold": 1.0, "every_k": 2, "step_size_fn": lambda c: 0.1}


def _factories():
  out = {}
  for module_name in _MODULES:
    module = importlib.import_module(module_name)
    for name in getattr(module, "__all__", []):
      fn = getattr(module, name)
      if inspect.isfunction(fn) and name not in _WRAPPERS and name not in out:
        out[name] = fn
  return out


def _build(fn, **extra):
  kwargs = {}
  for pname, param in inspect.signature(fn).parameters.items():
    if param.default is inspect.Parameter.empty:
      if pname in ("transform", "inner"):
        kwargs[pname] = gradtx.sgd(0.1)
      elif pname in _REQUIRED:
        kwargs[pname] = _REQUIRED[pname]
      else:
        return None
  try:
    tx = fn(**kwargs, **extra)
  except TypeError:
    return None
  return tx if isinstance(tx, gradtx.GradientTransformation) else None


def _stateful_factories():
  params = _params(jnp.float32)
  out = {}
  for name, fn in sorted(_factories().items()):
    tx = _build(fn)
    if tx is None:
      continue
    if R.per_leaf_state(tx.init(params)):
      out[name] = fn
  return out


STATEFUL_FACTORIES = _stateful_factories()
_NO_STATE_DTYPE: dict = {}  # accumulate_gradients takes state_dtype now


def test_introspection_finds_the_stateful_factories():
  expected = {"sgd", "adagrad", "rmsprop", "adam", "adamw", "nadam", "nadamw", "amsgrad",
              "adamax", "radam", "adabelief", "adadelta", "lion", "lamb", "lars", "adafactor",
              "scale_by_rss", "scale_by_rms", "scale_by_stddev", "scale_by_adam",
              "scale_by_amsgrad", "scale_by_adamax", "trace", "ema", "scale_by_radam",
              "scale_by_belief", "scale_by_adadelta", "scale_by_lion", "scale_by_factored_rms"}
  expected.discard("sgd")  # sgd without momentum keeps no per-parameter state
  missing = expected - set(STATEFUL_FACTORIES)
  assert not missing, missing


def _marked(names):
  return [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=_NO_STATE_DTYPE[n]))
          if n in _NO_STATE_DTYPE else n for n in names]


@pytest.mark.parametrize("name", _marked(sorted(STATEFUL_FACTORIES) + ["sgd"]))
def test_state_dtype_is_a_keyword_argument(name):
  fn = _factories()[name]
  param = inspect.signature(fn).parameters.get("state_dtype")
  assert param is not None, f"{name} has no state_dtype argument"
  assert param.kind is inspect.Parameter.KEYWORD_ONLY and param.default is None


# Options that switch on every optional piece of state (momentum stages, centered
# RMSProp, factored Adafactor statistics), so that all of it is checked.
_ALL_STATE = {"sgd": dict(momentum=0.9), "rmsprop": dict(momentum=0.9, centered=True),
              "adafactor": dict(momentum=0.9, min_dim_size_to_factor=1),
              "scale_by_factored_rms": dict(min_dim_size_to_factor=1),
              # the default zoom line search needs `value`, `value_fn` at each update
              "lbfgs": dict(linesearch=None)}
# Optimizers that refuse complex params (TypeError naming the leaf at init), and why.
_REAL_ONLY = {"rprop": "the sign of g_t g_{t-1} and the clipped step need an order",
              "scale_by_rprop": "the sign of g_t g_{t-1} and the clipped step need an order",
              "sm3": "SM3's max-based cover accumulators are defined for real gradients",
              "scale_by_sm3": "SM3's max-based cover accumulators are defined for real gradients"}


@pytest.mark.parametrize("name", _marked(sorted(set(STATEFUL_FACTORIES) | {"sgd"})))
@pytest.mark.parametrize("param_dtype,state_dtype",
                         [(jnp.float32, jnp.bfloat16), (jnp.bfloat16, jnp.float16),
                          (jnp.complex64, jnp.complex64)],
                         ids=["f32->bf16", "bf16->f16", "c64"])
def test_state_dtype_sets_the_per_parameter_state_dtype(name, param_dtype, state_dtype):
  fn = _factories()[name]
  tx = _build(fn, state_dtype=state_dtype, **_ALL_STATE.get(name, {}))
  params = jax.tree.map(lambda p: p.astype(param_dtype), _params(jnp.float32))
  if name in _REAL_ONLY and jnp.issubdtype(param_dtype, jnp.complexfloating):
    with pytest.raises(TypeError, match=r"params leaf \['b'\] is complex"):
      tx.init(params)
    return
  state = tx.init(params)
  real = jnp.finfo(state_dtype).dtype
  leaves = R.per_leaf_state(state)
  assert leaves
  for leaf in leaves:
    assert leaf.dtype in (jnp.dtype(state_dtype), jnp.dtype(real)), (name, leaf.dtype)
  updates, new_state = tx.update(jax.tree.map(lambda p: p * 0.5, params), state, params)
  for u in jax.tree.leaves(updates):
    assert u.dtype == param_dtype
  R.assert_trees_close(jax.tree.map(lambda x: jnp.zeros((), x.dtype), state),
                       jax.tree.map(lambda x: jnp.zeros((), x.dtype), new_state), err=name)


def test_optax_spellings_of_the_state_dtype():
  params = _params(jnp.float32)
  s = gradtx.adam(0.1, mu_dtype=jnp.bfloat16).init(params)[0]
  assert {x.dtype for x in jax.tree.leaves(s.mu)} == {jnp.dtype(jnp.bfloat16)}
  assert {x.dtype for x in jax.tree.leaves(s.nu)} == {jnp.dtype(jnp.float32)}
  s = gradtx.sgd(0.1, momentum=0.9, accumulator_dtype=jnp.bfloat16).init(params)[0]
  assert {x.dtype for x in jax.tree.leaves(s.trace)} == {jnp.dtype(jnp.bfloat16)}
  s = gradtx.lion(0.1, mu_dtype=jnp.bfloat16).init(params)[0]
  assert {x.dtype for x in jax.tree.leaves(s.mu)} == {jnp.dtype(jnp.bfloat16)}


# --- float64 ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", R.NAMES)
def test_float64_params_in_x64_mode(name):
  with jax.enable_x64(True):
    tx = R.make(name)
    params = _params(jnp.float64)
    state = tx.init(params)
    for leaf in R.per_leaf_state(state):
      assert leaf.dtype == jnp.float64, (name, leaf.dtype)
    for k in range(2):
      updates, state = tx.update(_grads(params, k), state, params)
      params = gradtx.apply_updates(params, updates)
    for x in jax.tree.leaves(updates) + jax.tree.leaves(params):
      assert x.dtype == jnp.float64
    for leaf in R.per_leaf_state(state):
      assert leaf.dtype == jnp.float64
    assert R.all_finite(params)


def test_float32_params_in_x64_mode_keep_float32_state():
  with jax.enable_x64(True):
    tx = gradtx.adam(0.1)
    params = _params(jnp.float32)
    updates, state = tx.update(_grads(params, 0), tx.init(params), params)
    assert {x.dtype for x in R.per_leaf_state(state)} == {jnp.dtype(jnp.float32)}
    assert {x.dtype for x in jax.tree.leaves(updates)} == {jnp.dtype(jnp.float32)}


# --- NumPy references (float64 / complex128), shared by the float64 and complex tests -------

def _ref_adam(g_seq, p0, lr, b1, b2, eps, *, wd=0.0, nesterov=False, amsgrad=False):
  p = np.array(p0)
  m = np.zeros_like(p)
  v = np.zeros(p.shape)
  v_max = np.zeros(p.shape)
  for t, g in enumerate(g_seq, start=1):
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * (np.conj(g) * g).real
    if nesterov:
      m_hat = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1 ** t)
    else:
      m_hat = m / (1 - b1 ** t)
    v_hat = v / (1 - b2 ** t)
    if amsgrad:
      v_max = np.maximum(v_max, v_hat)
      v_hat = v_max
    p = p - lr * (m_hat / (np.sqrt(v_hat) + eps) + wd * p)
  return p


def _ref_adamax(g_seq, p0, lr, b1, b2, eps):
  p = np.array(p0)
  m = np.zeros_like(p)
  u = np.zeros(p.shape)
  for t, g in enumerate(g_seq, start=1):
    m = b1 * m + (1 - b1) * g
    u = np.maximum(b2 * u, np.abs(g) + eps)
    p = p - lr * m / (1 - b1 ** t) / u
  return p


def _ref_sgd(g_seq, p0, lr, momentum=0.0):
  p = np.array(p0)
  v = np.zeros_like(p)
  for g in g_seq:
    v = g + momentum * v
    p = p - lr * v
  return p


REFERENCES = {
    "adam": (lambda: gradtx.adam(0.01, b1=0.8, b2=0.95, eps=1e-6),
             lambda g, p: _ref_adam(g, p, 0.01, 0.8, 0.95, 1e-6)),
    "adamw": (lambda: gradtx.adamw(0.01, b1=0.8, b2=0.95, eps=1e-6, weight_decay=0.1),
              lambda g, p: _ref_adam(g, p, 0.01, 0.8, 0.95, 1e-6, wd=0.1)),
    "nadam": (lambda: gradtx.nadam(0.01, b1=0.8, b2=0.95, eps=1e-6),
              lambda g, p: _ref_adam(g, p, 0.01, 0.8, 0.95, 1e-6, nesterov=True)),
    "amsgrad": (lambda: gradtx.amsgrad(0.01, b1=0.8, b2=0.95, eps=1e-6),
                lambda g, p: _ref_adam(g, p, 0.01, 0.8, 0.95, 1e-6, amsgrad=True)),
    "adamax": (lambda: gradtx.adamax(0.01, b1=0.8, b2=0.95, eps=1e-6),
               lambda g, p: _ref_adamax(g, p, 0.01, 0.8, 0.95, 1e-6)),
    "sgd": (lambda: gradtx.sgd(0.1), lambda g, p: _ref_sgd(g, p, 0.1)),
    "sgd+momentum": (lambda: gradtx.sgd(0.1, momentum=0.9),
                     lambda g, p: _ref_sgd(g, p, 0.1, 0.9)),
}


def _gradient_sequence(p0, complex_):
  rng = np.random.default_rng(1)
  out = []
  for _ in range(4):
    g = rng.normal(size=p0.shape)
    if complex_:
      g = g + 1j * rng.normal(size=p0.shape)
    out.append(g)
  return out


def _run_numpy_grads(tx, p0, g_seq, dtype):
  params = jnp.asarray(p0, dtype)
  state = tx.init(params)
  for g in g_seq:
    updates, state = tx.update(jnp.asarray(g, dtype), state, params)
    params = gradtx.apply_updates(params, updates)
  return params, state


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_float64_against_numpy(name):
  build, ref = REFERENCES[name]
  p0 = np.array([0.5, -1.5, 2.0, 0.0, 3.0])
  g_seq = _gradient_sequence(p0, complex_=False)
  with jax.enable_x64(True):
    params, _ = _run_numpy_grads(build(), p0, g_seq, jnp.float64)
    assert params.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(params), ref(g_seq, p0), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(REFERENCES))
@pytest.mark.parametrize("dtype", [jnp.complex64, jnp.complex128], ids=["c64", "c128"])
def test_complex_params_against_numpy(name, dtype):
  build, ref = REFERENCES[name]
  p0 = np.array([0.5 + 1j, -1.5, 2.0j, 0.0, 3.0 - 0.5j])
  g_seq = _gradient_sequence(p0, complex_=True)
  with jax.enable_x64(dtype == jnp.complex128):
    params, state = _run_numpy_grads(build(), p0, g_seq, dtype)
    assert params.dtype == dtype
    for leaf in R.per_leaf_state(state):
      # first moments / velocities complex, second moments real of the same precision
      assert leaf.dtype in (jnp.dtype(dtype), jnp.finfo(dtype).dtype), leaf.dtype
    tol = 1e-12 if dtype == jnp.complex128 else 2e-6
    np.testing.assert_allclose(np.asarray(params), ref(g_seq, p0), rtol=tol, atol=tol)


@pytest.mark.parametrize("name", R.NAMES)
def test_complex_params_run_for_every_named_optimizer(name):
  tx = R.make(name)
  params = {"z": jnp.array([0.5 + 1j, -1.5, 2.0j], jnp.complex64),
            "m": jnp.array([[1.0 - 1j, 0.5j], [0.25, -2.0 + 0.5j]], jnp.complex64)}
  state = tx.init(params)
  for k in range(2):
    grads = jax.tree.map(lambda p, k=k: p * (0.3 + 0.1j * k) + 0.1, params)
    updates, state = tx.update(grads, state, params)
    params = gradtx.apply_updates(params, updates)
  for x in jax.tree.leaves(params) + jax.tree.leaves(updates):
    assert x.dtype == jnp.complex64
  assert R.all_finite(params) and R.all_finite(state)
  # A real loss of complex params goes downhill: |z|^2 shrinks with gradient conj-style.
  assert any(np.any(np.asarray(u) != 0) for u in jax.tree.leaves(updates))


# --- odd trees ---------------------------------------------------------------------------------

class Pair(NamedTuple):
  kernel: jax.Array
  bias: jax.Array


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class Block:
  weight: jax.Array
  scale: jax.Array


def odd_tree():
  return {
      "none": None,
      "scalar": jnp.asarray(1.5),
      "empty_vec": jnp.zeros((0,)),
      "empty_mat": jnp.zeros((3, 0)),
      "nested": [jnp.ones(2), (jnp.full((), -0.5), {"deep": jnp.ones((2, 3)), "nil": None})],
      "pair": Pair(jnp.array([[0.5, -0.5]]), jnp.array([0.1])),
      "block": Block(jnp.array([1.0, 2.0, -3.0]), jnp.asarray(0.5)),
      "empty_dict": {},
      "empty_list": [],
  }


def _check_same_layout(a, b, name):
  assert jax.tree.structure(a) == jax.tree.structure(b), name
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    assert x.shape == y.shape and x.dtype == y.dtype, (name, x.shape, y.shape)


# Under jit too for one optimizer of each kind of per-leaf code path (map_leaves,
# tree.map with None leaves, trust ratio, factored statistics); eagerly for all.
ODD_TREE_JIT = {"adam", "sgd+momentum", "lamb", "adafactor"}


@pytest.mark.parametrize("name", R.NAMES)
def test_odd_tree_for_every_named_optimizer(name):
  tx = R.make(name)
  params = odd_tree()
  state = tx.init(params)
  step = jax.jit(lambda g, s, p: R.step(tx, g, s, p))
  p_eager, s_eager, p_jit, s_jit = params, state, params, state
  for k in range(2):
    grads = jax.tree.map(lambda p, k=k: jnp.sin(p + k) + 0.1, params)
    p_eager, s_eager, u = R.step(tx, grads, s_eager, p_eager)
    if name in ODD_TREE_JIT:
      p_jit, s_jit, _ = step(grads, s_jit, p_jit)
    _check_same_layout(u, params, name)
  assert p_eager["none"] is None and p_eager["nested"][1][1]["nil"] is None
  assert isinstance(p_eager["pair"], Pair) and isinstance(p_eager["block"], Block)
  assert p_eager["empty_dict"] == {} and p_eager["empty_list"] == []
  _check_same_layout(p_eager, params, name)
  _check_same_layout(s_eager, state, name)
  assert R.all_finite(p_eager) and R.all_finite(s_eager)
  if name in ODD_TREE_JIT:
    R.assert_trees_close(p_jit, p_eager, rtol=1e-6, atol=1e-7, err=name)


ROOTS = ["dict", "list", "tuple", "none", "0d", "zero_size"]


# A params tree that is None is indistinguishable from "no params passed", which the
# optimizers that need params refuse; they are run on the other roots.
@pytest.mark.parametrize("name,root", [(n, r) for n in R.NAMES for r in ROOTS
                                       if not (r == "none" and n in R.NEEDS_PARAMS)])
def test_degenerate_roots(name, root):
  params = {"dict": {}, "list": [], "tuple": (), "none": None, "0d": jnp.asarray(2.0),
            "zero_size": jnp.zeros((2, 0, 3))}[root]
  tx = R.make(name)
  state = tx.init(params)
  grads = jax.tree.map(lambda p: p * 0.5 + 0.1, params)
  updates, state = tx.update(grads, state, params)
  new = gradtx.apply_updates(params, updates)
  _check_same_layout(new, params, name)
  assert R.all_finite(new)
