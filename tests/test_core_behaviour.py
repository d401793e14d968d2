"""Core behaviour: jit, dtypes, hyperparameter types, unpacking, odd pytrees.

References are NumPy float64 formulas (x64 mode is on for this module), never
gradtx itself; where two gradtx runs are compared (jit against eager, a Python
float against a JAX scalar) the point is that the two ways of running give the
same numbers, and one of them is also checked against NumPy.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx


pytestmark = pytest.mark.usefixtures("x64")


# name -> (factory, float hyperparameters). Every numeric argument is listed so
# that each one is tried both as a Python float and as a JAX scalar.
def _chain(*parts):
  return lambda **k: gradtx.chain(*(p(k) for p in parts))


OPTIMIZERS = {
    "sgd": (gradtx.sgd, dict(learning_rate=0.1)),
    "sgd_momentum": (gradtx.sgd, dict(learning_rate=0.05, momentum=0.9)),
    "sgd_nesterov": (functools.partial(gradtx.sgd, nesterov=True),
                     dict(learning_rate=0.05, momentum=0.9)),
    "adagrad": (gradtx.adagrad, dict(learning_rate=0.1, initial_accumulator_value=0.1, eps=1e-7)),
    "adagrad_eps_outside": (functools.partial(gradtx.adagrad, eps_in_sqrt=False),
                            dict(learning_rate=0.1, initial_accumulator_value=0.0, eps=1e-3)),
    "rmsprop": (gradtx.rmsprop, dict(learning_rate=0.01, decay=0.9, eps=1e-8, initial_scale=0.0,
                                     momentum=0.5)),
    "rmsprop_centered": (functools.partial(gradtx.rmsprop, centered=True, eps_in_sqrt=False),
                         dict(learning_rate=0.01, decay=0.95, eps=1e-6, initial_scale=0.0)),
    "adam": (gradtx.adam, dict(learning_rate=0.01, b1=0.9, b2=0.999, eps=1e-8, eps_root=1e-12)),
    "adamw": (gradtx.adamw, dict(learning_rate=0.01, b1=0.9, b2=0.99, eps=1e-8, eps_root=0.0,
                                 weight_decay=0.01)),
    "nadam": (gradtx.nadam, dict(learning_rate=0.01, b1=0.9, b2=0.999, eps=1e-8)),
    "nadamw": (gradtx.nadamw, dict(learning_rate=0.01, b1=0.9, b2=0.999, eps=1e-8,
                                   weight_decay=0.01)),
    "amsgrad": (gradtx.amsgrad, dict(learning_rate=0.01, b1=0.9, b2=0.999, eps=1e-8)),
    "adamax": (gradtx.adamax, dict(learning_rate=0.01, b1=0.9, b2=0.999, eps=1e-8)),
    "ema": (_chain(lambda k: gradtx.ema(k["decay"]), lambda k: gradtx.scale(k["step_size"])),
            dict(decay=0.9, step_size=-0.1)),
    "clip_global_sgd": (_chain(lambda k: gradtx.clip_by_global_norm(k["max_norm"]),
                               lambda k: gradtx.sgd(k["learning_rate"])),
                        dict(max_norm=0.5, learning_rate=0.1)),
    "clip_trace": (_chain(lambda k: gradtx.clip(k["max_delta"]), lambda k: gradtx.trace(k["decay"]),
                          lambda k: gradtx.scale_by_learning_rate(k["learning_rate"])),
                   dict(max_delta=0.5, decay=0.8, learning_rate=0.1)),
    "coupled_decay": (_chain(lambda k: gradtx.add_decayed_weights(k["weight_decay"]),
                             lambda k: gradtx.sgd(k["learning_rate"])),
                      dict(weight_decay=0.1, learning_rate=0.1)),
    "rss_rms_stddev": (_chain(lambda k: gradtx.scale_by_rss(k["iav"], k["eps"]),
                              lambda k: gradtx.scale_by_rms(k["decay"], k["eps"], k["s0"]),
                              lambda k: gradtx.scale_by_stddev(k["decay"], k["eps"], k["s0"]),
                              lambda k: gradtx.scale(k["step_size"])),
                       dict(iav=0.1, eps=1e-6, decay=0.9, s0=0.1, step_size=-0.01)),
    "adam_primitives": (_chain(lambda k: gradtx.scale_by_adam(k["b1"], k["b2"], k["eps"]),
                               lambda k: gradtx.scale_by_amsgrad(k["b1"], k["b2"], k["eps"]),
                               lambda k: gradtx.scale_by_adamax(k["b1"], k["b2"], k["eps"]),
                               lambda k: gradtx.scale(k["step_size"])),
                        dict(b1=0.8, b2=0.99, eps=1e-6, step_size=-0.01)),
    "inverse_time_lr": (lambda lr0, rate, steps: gradtx.sgd(
        gradtx.inverse_time_decay(lr0, rate, steps)), dict(lr0=0.2, rate=1.0, steps=2.0)),
    "warmup_cosine_lr": (lambda init, peak, warmup, decay, end: gradtx.adam(
        gradtx.warmup_cosine_decay_schedule(init, peak, warmup, decay, end)),
        dict(init=0.0, peak=0.05, warmup=3.0, decay=20.0, end=0.001)),
    "schedules_lr": (lambda lr0, k, b, r, e: gradtx.chain(
        gradtx.scale_by_schedule(gradtx.join_schedules(
            [gradtx.inverse_sqrt_decay(lr0, k),
             gradtx.epoch_schedule(gradtx.exponential_decay(lr0, 1.0, r), e),
             # (a boundary is a dict key: a Python number, not an unhashable array)
            gradtx.piecewise_constant_schedule(lr0, {3: r}),
             gradtx.cosine_decay_schedule(lr0, e, r)], [b, 2 * b, 3 * b])),
        gradtx.scale(-1.0)), dict(lr0=0.1, k=0.5, b=3.0, r=0.5, e=2.0)),
}


def make(name, as_jax=None):
  factory, kwargs = OPTIMIZERS[name]
  if as_jax is not None:
    kwargs = {k: as_jax(v) for k, v in kwargs.items()}
  return factory(**kwargs)


def params_tree(dtype=jnp.float64):
  return {"w": jnp.asarray([[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]], dtype),
          "b": [jnp.asarray([0.1, -0.3, 2.0], dtype)]}


def grad_tree(params):
  """Gradient of sum(0.5 * (p - 1)^2 + 0.1 * p^3 / 3), elementwise."""
  return jax.tree.map(lambda p: (p - 1) + 0.1 * p * p, params)


@jax.jit
def _jit_step(tx, params, state):
  updates, state = tx.update(grad_tree(params), state, params)
  return gradtx.apply_updates(params, updates), state, updates


def run(tx, params, steps=3, jit=False, unpacked=False):
  """`steps` updates on `grad_tree`; returns (params, state, last updates)."""
  if unpacked:
    init, update = tx
  else:
    init, update = tx.init, tx.update
  state = init(params)
  for _ in range(steps):
    if jit:
      params, state, updates = _jit_step(tx, params, state)
    else:
      updates, state = update(grad_tree(params), state, params)
      params = gradtx.apply_updates(params, updates)
  return params, state, updates


def assert_trees_equal(a, b, rtol=0.0, atol=0.0):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    assert jnp.result_type(x) == jnp.result_type(y)
    if rtol == 0 and atol == 0:
      np.testing.assert_array_equal(np.asarray(x, np.float64), np.asarray(y, np.float64))
    else:
      np.testing.assert_allclose(np.asarray(x, np.float64), np.asarray(y, np.float64),
                                 rtol=rtol, atol=atol)


NAMES = sorted(OPTIMIZERS)

# --------------------------------------------------------------------------- jit


def _as_jax(strong):
  return (lambda v: jnp.asarray(v, jnp.float64)) if strong else jnp.asarray


@pytest.mark.parametrize("name", NAMES)
def test_jit_and_hyperparameter_types_give_same_numbers(name):
  """float32 params in x64 mode: Python-float hyperparameters, weakly typed JAX scalars
  (`jnp.asarray(0.1)`) and strongly typed float64 JAX scalars give the same numbers,
  eagerly and under jit, and never change the params' or the updates' dtype."""
  dtype = jnp.float32
  p0 = params_tree(dtype)
  runs = {
      "float": run(make(name), p0),
      "jax_weak": run(make(name, as_jax=_as_jax(False)), p0),
      "jax_float64": run(make(name, as_jax=_as_jax(True)), p0),
      "jit": run(make(name), p0, jit=True),
      "jit_jax_weak": run(make(name, as_jax=_as_jax(False)), p0, jit=True),
  }
  for key, (params, _, updates) in runs.items():
    for tree in (params, updates):
      assert {x.dtype for x in jax.tree.leaves(tree)} == {jnp.dtype(dtype)}, key
  for key in ("jax_weak", "jax_float64"):
    assert_trees_equal(runs["float"][0], runs[key][0])
    assert_trees_equal(runs["float"][2], runs[key][2])
  assert_trees_equal(runs["jit"][0], runs["jit_jax_weak"][0])
  # Under jit XLA may fuse float32 arithmetic differently: equal to rounding.
  assert_trees_equal(runs["float"][0], runs["jit"][0], rtol=1e-6, atol=1e-7)
  assert_trees_equal(runs["float"][1], runs["jit"][1], rtol=1e-5, atol=1e-7)
  for p, q in zip(jax.tree.leaves(runs["jit"][0]), jax.tree.leaves(p0)):
    assert not np.allclose(np.asarray(p), np.asarray(q))  # the params moved


@pytest.mark.parametrize("name", ["adam", "sgd_nesterov", "rmsprop_centered", "schedules_lr"])
def test_same_numbers_with_and_without_jit_float64(name):
  eager = run(make(name), params_tree(), steps=8)
  jitted = run(make(name), params_tree(), steps=8, jit=True)
  assert_trees_equal(eager, jitted, rtol=1e-13, atol=1e-16)


def test_jit_matches_numpy_reference():
  """Adam, jitted and eager, against NumPy on the same tree."""
  lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
  w = np.concatenate([np.ravel(x) for x in jax.tree.leaves(params_tree())])
  m = v = 0.0
  for t in range(1, 9):
    g = (w - 1) + 0.1 * w * w
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    w = w - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
  for jit in (False, True):
    got = run(gradtx.adam(lr), params_tree(), steps=8, jit=jit)[0]
    flat = np.concatenate([np.ravel(x) for x in jax.tree.leaves(got)])
    np.testing.assert_allclose(flat, w, rtol=1e-12)


def test_new_hyperparameter_value_does_not_recompile():
  traces = []

  @jax.jit
  def step(tx, params, state):
    traces.append(1)
    updates, state = tx.update(grad_tree(params), state, params)
    return gradtx.apply_updates(params, updates), state

  p = params_tree()
  for lr in (0.1, 0.01, 0.001):
    tx = gradtx.adamw(lr, b2=0.99, weight_decay=lr / 10)
    step(tx, p, tx.init(p))
  assert len(traces) == 1


# ------------------------------------------------------- Python float / JAX scalar


def test_hyperparameters_may_be_0d_numpy_and_python_ints():
  a = run(gradtx.sgd(np.float64(0.5), np.float64(0.5)), params_tree())[0]
  b = run(gradtx.sgd(0.5, 0.5), params_tree())[0]
  assert_trees_equal(a, b)
  c = run(gradtx.sgd(gradtx.inverse_time_decay(1, 1, 2)), params_tree())[0]
  d = run(gradtx.sgd(gradtx.inverse_time_decay(1.0, 1.0, 2.0)), params_tree())[0]
  assert_trees_equal(c, d)


# -------------------------------------------------------------------- unpacking


@pytest.mark.parametrize("name", NAMES)
def test_unpacks_as_init_update(name):
  tx = make(name)
  init, update = tx
  assert len(tx) == 2 and tx[0] == init and tx[1] == update
  assert_trees_equal(run(tx, params_tree(), steps=2, unpacked=True),
                     run(tx, params_tree(), steps=2))


def test_unpacked_sgd_against_numpy():
  init, update = gradtx.sgd(0.1, momentum=0.9)
  w = jnp.asarray([1.0, -2.0])
  state = init(w)
  wn, v = np.array([1.0, -2.0]), np.zeros(2)
  for _ in range(5):
    g = 2 * w
    u, state = update(g, state)
    w = gradtx.apply_updates(w, u)
    v = 2 * wn + 0.9 * v
    wn = wn - 0.1 * v
  np.testing.assert_allclose(np.asarray(w), wn, rtol=1e-14)


# ------------------------------------------------------------------------ dtypes


def bf16_params():
  return {"w": jnp.asarray([[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]], jnp.bfloat16),
          "b": [jnp.asarray([0.1, -0.3, 2.0], jnp.bfloat16)]}


def _per_leaf_state_dtypes(state):
  """dtypes of the state leaves shaped like a param (not the 0-d counts and scalars)."""
  return {x.dtype for x in jax.tree.leaves(state) if jnp.ndim(x) > 0}


@pytest.mark.parametrize("name", NAMES)
def test_bfloat16_params_keep_dtype_and_state_is_float32(name):
  tx = make(name)
  params = bf16_params()
  state0 = tx.init(params)
  new_params, state, updates = run(tx, params, steps=2)
  for tree in (new_params, updates):
    assert {x.dtype for x in jax.tree.leaves(tree)} == {jnp.dtype(jnp.bfloat16)}
  assert jax.tree.structure(new_params) == jax.tree.structure(params)
  # Default policy: accumulators of bf16 params are float32, and stay float32.
  assert _per_leaf_state_dtypes(state0) <= {jnp.dtype(jnp.float32)}
  assert jax.tree.map(lambda x: x.dtype, state) == jax.tree.map(lambda x: x.dtype, state0)
  for x in jax.tree.leaves(state):
    assert np.all(np.isfinite(np.asarray(x, np.float64)))


STATEFUL_WITH_DTYPE = {
    "sgd_momentum": lambda **k: gradtx.sgd(0.1, 0.9, **k),
    "sgd_nesterov": lambda **k: gradtx.sgd(0.1, 0.9, nesterov=True, **k),
    "adagrad": lambda **k: gradtx.adagrad(0.1, **k),
    "rmsprop": lambda **k: gradtx.rmsprop(0.01, momentum=0.9, **k),
    "rmsprop_centered": lambda **k: gradtx.rmsprop(0.01, centered=True, **k),
    "adam": lambda **k: gradtx.adam(0.01, **k),
    "adamw": lambda **k: gradtx.adamw(0.01, **k),
    "nadam": lambda **k: gradtx.nadam(0.01, **k),
    "amsgrad": lambda **k: gradtx.amsgrad(0.01, **k),
    "adamax": lambda **k: gradtx.adamax(0.01, **k),
    "trace": lambda **k: gradtx.trace(0.9, **k),
    "ema": lambda **k: gradtx.ema(0.9, **k),
    "scale_by_rss": lambda **k: gradtx.scale_by_rss(**k),
    "scale_by_rms": lambda **k: gradtx.scale_by_rms(**k),
    "scale_by_stddev": lambda **k: gradtx.scale_by_stddev(**k),
    "scale_by_adam": lambda **k: gradtx.scale_by_adam(**k),
}


@pytest.mark.parametrize("name", sorted(STATEFUL_WITH_DTYPE))
@pytest.mark.parametrize("param_dtype,override", [(jnp.bfloat16, jnp.bfloat16),
                                                  (jnp.float32, jnp.bfloat16),
                                                  (jnp.bfloat16, jnp.float64)])
def test_state_dtype_override(name, param_dtype, override):
  tx = STATEFUL_WITH_DTYPE[name](state_dtype=override)
  params = jax.tree.map(lambda x: x.astype(param_dtype), bf16_params())
  state0 = tx.init(params)
  assert _per_leaf_state_dtypes(state0) == {jnp.dtype(override)}
  new_params, state, updates = run(tx, params, steps=2)
  assert _per_leaf_state_dtypes(state) == {jnp.dtype(override)}
  assert {x.dtype for x in jax.tree.leaves(new_params)} == {jnp.dtype(param_dtype)}
  assert {x.dtype for x in jax.tree.leaves(updates)} == {jnp.dtype(param_dtype)}


def test_optax_dtype_spellings():
  p = bf16_params()
  s = gradtx.adam(0.01, mu_dtype=jnp.bfloat16).init(p)[0]
  assert {x.dtype for x in jax.tree.leaves(s.mu)} == {jnp.dtype(jnp.bfloat16)}
  assert {x.dtype for x in jax.tree.leaves(s.nu)} == {jnp.dtype(jnp.float32)}
  s = gradtx.adam(0.01, mu_dtype=jnp.bfloat16, state_dtype=jnp.float64).init(p)[0]
  assert {x.dtype for x in jax.tree.leaves(s.mu)} == {jnp.dtype(jnp.bfloat16)}
  assert {x.dtype for x in jax.tree.leaves(s.nu)} == {jnp.dtype(jnp.float64)}
  s = gradtx.sgd(0.1, 0.9, accumulator_dtype=jnp.bfloat16).init(p)[0]
  assert {x.dtype for x in jax.tree.leaves(s.trace)} == {jnp.dtype(jnp.bfloat16)}
  s = gradtx.trace(0.9, accumulator_dtype=jnp.float64).init(p)
  assert {x.dtype for x in jax.tree.leaves(s.trace)} == {jnp.dtype(jnp.float64)}


def _bf16(x):
  return np.asarray(jnp.asarray(x, jnp.bfloat16), np.float64)


def _uncompensated(tx):
  """The named optimizer's chain before its final bf16-param compensation stage (that
  stage is tested in tests/test_lowp.py)."""
  *stages, last = tx.transformation().transforms
  assert type(last).__name__ == "CompensatedUpdates", last
  return gradtx.chain(*stages)


def test_bfloat16_adam_does_not_round_hyperparameters():
  """In bfloat16 b2 = 0.999 is 1.0 and eps = 1e-8 survives, so rounding them to the
  param dtype would stop Adam. The first steps must be about lr * sign(g)."""
  lr = 0.01
  params = bf16_params()
  tx = _uncompensated(gradtx.adam(lr))
  state = tx.init(params)
  g = grad_tree(params)
  u, state = tx.update(g, state, params)
  for ui, gi in zip(jax.tree.leaves(u), jax.tree.leaves(g)):
    gn = np.asarray(gi, np.float64)
    np.testing.assert_allclose(np.asarray(ui, np.float64), _bf16(-lr * gn / (np.abs(gn) + 1e-8)),
                               rtol=1e-2)
  # Second step against NumPy with the same (bf16) gradients twice.
  u2, _ = tx.update(g, state, params)
  for ui, gi in zip(jax.tree.leaves(u2), jax.tree.leaves(g)):
    gn = np.asarray(gi, np.float64)
    m = 0.9 * 0.1 * gn + 0.1 * gn
    v = 0.999 * 0.001 * gn ** 2 + 0.001 * gn ** 2
    want = -lr * (m / (1 - 0.81)) / (np.sqrt(v / (1 - 0.999 ** 2)) + 1e-8)
    np.testing.assert_allclose(np.asarray(ui, np.float64), want, rtol=1e-2)


def test_bfloat16_small_updates_apply_in_float32():
  """apply_updates adds in the wider dtype, then rounds once to bf16."""
  p = jnp.asarray([1.0, 256.0], jnp.bfloat16)
  u = jnp.asarray([2.0 ** -9 * 3, 1.5], jnp.float32)
  out = gradtx.apply_updates(p, u)
  assert out.dtype == jnp.bfloat16
  np.testing.assert_array_equal(np.asarray(out, np.float64), _bf16(np.array([1.0, 256.0]) +
                                                                   np.asarray(u, np.float64)))


def test_bfloat16_rmsprop_and_adagrad_first_step():
  lr = 0.01
  params = bf16_params()
  g = grad_tree(params)
  for tx, want_fn in [
      (gradtx.rmsprop(lr, decay=0.99), lambda gn: -lr * gn / np.sqrt(0.01 * gn ** 2 + 1e-8)),
      (gradtx.adagrad(lr, 0.0, 1e-7), lambda gn: -lr * gn / np.sqrt(gn ** 2 + 1e-7)),
      (gradtx.sgd(lr, 0.999), lambda gn: -lr * gn),
  ]:
    tx = _uncompensated(tx)
    u, _ = tx.update(g, tx.init(params), params)
    for ui, gi in zip(jax.tree.leaves(u), jax.tree.leaves(g)):
      assert ui.dtype == jnp.bfloat16
      np.testing.assert_allclose(np.asarray(ui, np.float64),
                                 want_fn(np.asarray(gi, np.float64)), rtol=1e-2)


# ------------------------------------------------------------------- odd pytrees


def odd_tree():
  """Nested dicts/lists/tuples, None leaves and 0-d arrays."""
  f = lambda x: jnp.asarray(x, jnp.float64)  # noqa: E731
  return {
      "dense": [f([1.0, 2.0, -3.0]), None, (f(0.5), {"k": f([[1.0, -1.0], [2.0, 0.25]])})],
      "bias": None,
      "scalar": f(-2.0),
      "t": (f([4.0]), [None, f(1.5)]),
  }


def _flat(tree):
  return np.concatenate([np.ravel(np.asarray(x)) for x in jax.tree.leaves(tree)])


def _unflat(tree, flat):
  leaves, treedef = jax.tree.flatten(tree)
  out, i = [], 0
  for x in leaves:
    n = int(np.size(x))
    out.append(jnp.asarray(flat[i:i + n].reshape(np.shape(x)), x.dtype))
    i += n
  return treedef.unflatten(out)


def _odd_grad_np(w):
  return np.linspace(0.5, 2.0, w.size) * (w - 1.0) + 0.2 * np.sin(w)


def _ref_sgd_momentum(lr, mu, nesterov):
  def rule(g, st, w, t):
    v = g + mu * st.get("v", 0.0)
    st["v"] = v
    return -lr * (g + mu * v if nesterov else v)
  return rule


def _ref_adam(lr, b1, b2, eps, wd=0.0):
  def rule(g, st, w, t):
    st["m"] = b1 * st.get("m", 0.0) + (1 - b1) * g
    st["v"] = b2 * st.get("v", 0.0) + (1 - b2) * g * g
    d = (st["m"] / (1 - b1 ** t)) / (np.sqrt(st["v"] / (1 - b2 ** t)) + eps)
    return -lr * (d + wd * w)
  return rule


def _ref_rmsprop(lr, b, eps):
  def rule(g, st, w, t):
    st["s"] = b * st.get("s", 0.0) + (1 - b) * g * g
    return -lr * g / np.sqrt(st["s"] + eps)
  return rule


def _ref_adagrad(lr, g0, eps):
  def rule(g, st, w, t):
    st["G"] = st.get("G", g0) + g * g
    return -lr * g / np.sqrt(st["G"] + eps)
  return rule


def _ref_clip_sgd(max_norm, lr):
  def rule(g, st, w, t):
    n = np.sqrt(np.sum(g * g))  # over all (non-None) leaves together
    return -lr * g * min(1.0, max_norm / n)
  return rule


def _ref_coupled(lam, lr):
  def rule(g, st, w, t):
    return -lr * g - lam * w
  return rule


TREE_CASES = {
    "sgd": (lambda: gradtx.sgd(0.1), _ref_sgd_momentum(0.1, 0.0, False)),
    "momentum": (lambda: gradtx.sgd(0.05, 0.9), _ref_sgd_momentum(0.05, 0.9, False)),
    "nesterov": (lambda: gradtx.sgd(0.05, 0.9, nesterov=True), _ref_sgd_momentum(0.05, 0.9, True)),
    "adam": (lambda: gradtx.adam(0.05), _ref_adam(0.05, 0.9, 0.999, 1e-8)),
    "adamw": (lambda: gradtx.adamw(0.05, weight_decay=0.1), _ref_adam(0.05, 0.9, 0.999, 1e-8, 0.1)),
    "rmsprop": (lambda: gradtx.rmsprop(0.01), _ref_rmsprop(0.01, 0.9, 1e-8)),
    "adagrad": (lambda: gradtx.adagrad(0.3), _ref_adagrad(0.3, 0.1, 1e-7)),
    "clip": (lambda: gradtx.chain(gradtx.clip_by_global_norm(0.5), gradtx.sgd(0.1)),
             _ref_clip_sgd(0.5, 0.1)),
    "coupled_decay": (lambda: gradtx.chain(gradtx.add_decayed_weights(0.05 / 0.1),
                                           gradtx.sgd(0.1)), _ref_coupled(0.05, 0.1)),
}


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("name", sorted(TREE_CASES))
def test_odd_pytree(name, jit):
  make_tx, rule = TREE_CASES[name]
  tx = make_tx()
  params = odd_tree()
  state = tx.init(params)

  def step(params, state, grads):
    updates, state = tx.update(grads, state, params)
    return gradtx.apply_updates(params, updates), state, updates

  if jit:
    step = jax.jit(step)
  w, st = _flat(params), {}
  for t in range(1, 21):
    grads = _unflat(params, _odd_grad_np(_flat(params)))
    params, state, updates = step(params, state, grads)
    w = w + rule(_odd_grad_np(w), st, w, t)
    # The structure, None leaves included, is preserved; 0-d leaves stay 0-d.
    assert jax.tree.structure(params, is_leaf=lambda x: x is None) == jax.tree.structure(
        odd_tree(), is_leaf=lambda x: x is None)
    assert jax.tree.structure(updates) == jax.tree.structure(odd_tree())
    assert params["dense"][1] is None and params["bias"] is None and params["t"][1][0] is None
    assert params["scalar"].shape == () and params["dense"][2][0].shape == ()
    np.testing.assert_allclose(_flat(params), w, rtol=1e-11, atol=1e-13)
  assert np.max(np.abs(w - _flat(odd_tree()))) > 1e-2


def test_apply_updates_with_none_and_0d():
  params = {"a": None, "b": jnp.asarray(1.0), "c": [jnp.asarray([1.0, 2.0]), None]}
  updates = {"a": None, "b": jnp.asarray(0.5), "c": [jnp.asarray([-1.0, 1.0]), None]}
  out = gradtx.apply_updates(params, updates)
  assert out["a"] is None and out["c"][1] is None
  assert float(out["b"]) == 1.5 and out["b"].shape == ()
  np.testing.assert_array_equal(np.asarray(out["c"][0]), [0.0, 3.0])


def test_empty_tree():
  for name in ("sgd_momentum", "adam", "clip_global_sgd", "coupled_decay"):
    tx = make(name)
    state = tx.init({})
    updates, _ = tx.update({}, state, {})
    assert updates == {}
