"""Gradient accumulation: `accumulate_gradients(tx, k)` over k micro-batches of size B is
one step of `tx` on the batch of k*B (mean loss).

The reference is Optax (`optax.adam`, `optax.sgd` with momentum) stepping once per
full batch of a least-squares model, in float64 (x64 mode for this module).
Also: the micro-step / step counters, exactly-zero updates on non-final
micro-steps, and the compiled step's temporary memory against `optax.MultiSteps`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx


pytestmark = pytest.mark.usefixtures("x64")


K, B, OUTER = 4, 8, 5  # micro-batches per step, micro-batch size, optimizer steps


def _data():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(OUTER * K * B, 3))
  w_true = rng.normal(size=(3, 2))
  y = x @ w_true + 0.3 + 0.1 * rng.normal(size=(OUTER * K * B, 2))
  params = {"w": jnp.asarray(rng.normal(size=(3, 2))), "b": jnp.zeros(2)}
  return jnp.asarray(x), jnp.asarray(y), params


def _loss(p, x, y):
  return jnp.mean((x @ p["w"] + p["b"] - y) ** 2)


_grad = jax.jit(jax.grad(_loss))


@jax.jit
def _micro_step(tx, params, state, x, y):
  updates, state = tx.update(_grad(params, x, y), state, params)
  return gradtx.apply_updates(params, updates), state, updates


CASES = {
    "adam": (lambda: gradtx.adam(0.05), lambda: optax.adam(0.05)),
    "sgd_momentum": (lambda: gradtx.sgd(0.05, momentum=0.9),
                     lambda: optax.sgd(0.05, momentum=0.9)),
    "adamw_clip": (lambda: gradtx.chain(gradtx.clip_by_global_norm(0.5),
                                        gradtx.adamw(0.05, weight_decay=0.1)),
                   lambda: optax.chain(optax.clip_by_global_norm(0.5),
                                       optax.adamw(0.05, weight_decay=0.1))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_k_micro_batches_equal_one_step_on_the_big_batch(name):
  make, make_ref = CASES[name]
  x, y, params = _data()
  tx = gradtx.accumulate_gradients(make(), K)
  state = tx.init(params)
  ref = make_ref()
  ref_params, ref_state = params, ref.init(params)
  p = params
  for step in range(OUTER):
    before = p
    for j in range(K):
      lo = (step * K + j) * B
      p, state, updates = _micro_step(tx, p, state, x[lo:lo + B], y[lo:lo + B])
      if j < K - 1:  # non-final micro-steps: zero updates, params bit-identical
        for u in jax.tree.leaves(updates):
          assert not np.any(np.asarray(u))
        for a, b in zip(jax.tree.leaves(p), jax.tree.leaves(before)):
          np.testing.assert_array_equal(a, b)
    big = slice(step * K * B, (step + 1) * K * B)
    g = jax.grad(_loss)(ref_params, x[big], y[big])
    u, ref_state = ref.update(g, ref_state, ref_params)
    ref_params = optax.apply_updates(ref_params, u)
    for k in p:
      np.testing.assert_allclose(np.asarray(p[k]), np.asarray(ref_params[k]),
                                 rtol=1e-11, atol=1e-13, err_msg=f"{name} step {step} {k}")
  moved = float(jnp.max(jnp.abs(p["w"] - params["w"])))
  assert moved > 1e-2


def test_counters_and_zero_updates():
  x, y, params = _data()
  k = 3
  tx = gradtx.accumulate_gradients(gradtx.adam(0.05), k)
  state = tx.init(params)
  assert int(state.micro_step) == 0 and int(state.step) == 0
  micro, steps = [], []
  for call in range(10):
    lo = call * B
    params, state, updates = _micro_step(tx, params, state, x[lo:lo + B], y[lo:lo + B])
    micro.append(int(state.micro_step))
    steps.append(int(state.step))
    nonzero = any(np.any(np.asarray(u)) for u in jax.tree.leaves(updates))
    assert nonzero == ((call + 1) % k == 0), call
    assert int(state.inner_state[0].count) == steps[-1]  # inner Adam stepped `step` times
    if (call + 1) % k == 0:  # the accumulator is reset after a step
      assert all(not np.any(np.asarray(a)) for a in jax.tree.leaves(state.grad_acc))
  assert micro == [1, 2, 0, 1, 2, 0, 1, 2, 0, 1]
  assert steps == [0, 0, 1, 1, 1, 2, 2, 2, 3, 3]


def test_accumulator_holds_the_running_sum():
  x, y, params = _data()
  tx = gradtx.accumulate_gradients(gradtx.sgd(0.1), 3)
  state = tx.init(params)
  total = {k: np.zeros(v.shape) for k, v in params.items()}
  for call in range(2):
    lo = call * B
    g = _grad(params, x[lo:lo + B], y[lo:lo + B])
    params, state, _ = _micro_step(tx, params, state, x[lo:lo + B], y[lo:lo + B])
    total = {k: total[k] + np.asarray(g[k]) for k in total}
    for k in total:
      np.testing.assert_allclose(np.asarray(state.grad_acc[k]), total[k], rtol=1e-14)


def test_every_k_one_is_the_inner_optimizer():
  x, y, params = _data()
  tx = gradtx.accumulate_gradients(gradtx.sgd(0.05, momentum=0.9), 1)
  ref, p, q = optax.sgd(0.05, momentum=0.9), params, params
  s, rs = tx.init(params), ref.init(params)
  for call in range(4):
    lo = call * B
    p, s, _ = _micro_step(tx, p, s, x[lo:lo + B], y[lo:lo + B])
    u, rs = ref.update(jax.grad(_loss)(q, x[lo:lo + B], y[lo:lo + B]), rs, q)
    q = optax.apply_updates(q, u)
    for k in p:
      np.testing.assert_allclose(np.asarray(p[k]), np.asarray(q[k]), rtol=1e-12)


def test_every_k_is_a_hyperparameter_leaf():
  """`every_k` is data: k = 2 then k = 4 reuse one compiled step and each is right."""
  traces = []

  @jax.jit
  def count_calls(tx, params, state, x, y):
    traces.append(None)
    updates, state = tx.update(_grad(params, x, y), state, params)
    return updates, state

  x, y, params = _data()
  for k in (2, 4):
    tx = gradtx.accumulate_gradients(gradtx.sgd(0.1), k)
    state = tx.init(params)
    for call in range(k):
      updates, state = count_calls(tx, params, state, x[call * B:(call + 1) * B],
                                   y[call * B:(call + 1) * B])
    g = jax.grad(_loss)(params, x[:k * B], y[:k * B])  # mean over the k micro-batches
    for name in params:
      np.testing.assert_allclose(np.asarray(updates[name]), -0.1 * np.asarray(g[name]),
                                 rtol=1e-12)
  assert len(traces) == 1


def test_memory_of_a_donated_step_against_optax_multisteps():
  """Adam accumulated over 4 micro-steps on one 4M-parameter float32 leaf, params and
  state donated: XLA's temporary buffers, from `compiled.memory_analysis()`."""
  n = 4 * 1024 * 1024
  leaf = jax.ShapeDtypeStruct((n,), jnp.float32)
  params = {"w": leaf}
  param_bytes = 4 * n

  def temp_bytes(tx, apply):
    def step(grads, state, params):
      updates, state = tx.update(grads, state, params)
      return apply(params, updates), state
    state = jax.eval_shape(tx.init, params)
    compiled = jax.jit(step, donate_argnums=(1, 2)).lower(params, state, params).compile()
    analysis = compiled.memory_analysis()
    if analysis is None:
      pytest.skip("memory_analysis() is not available on this backend")
    return analysis.temp_size_in_bytes

  ours = temp_bytes(gradtx.accumulate_gradients(gradtx.adam(1e-3), 4), gradtx.apply_updates)
  theirs = temp_bytes(optax.MultiSteps(optax.adam(1e-3), 4), optax.apply_updates)
  print(f"\ntemp bytes, 4M-param float32 leaf, donated: gradtx accumulate_gradients "
        f"{ours} ({ours / param_bytes:.2f} param sizes), optax MultiSteps {theirs} "
        f"({theirs / param_bytes:.2f} param sizes)")
  assert ours <= theirs
  assert ours <= 2.1 * param_bytes
