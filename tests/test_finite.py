"""Non-finite gradients: `apply_if_finite` skips the step, `zero_nans` zeroes NaNs.

A skipped step must leave the params *and* the wrapped optimizer's state
bit-identical (compared leaf by leaf with the state before the step); the skip
counters follow Optax's `apply_if_finite` on the same sequence of gradients;
the finite steps follow `optax.adam` run on the finite gradients alone; after
`max_consecutive_errors` consecutive skips the step is applied anyway.
x64 mode is on for the module.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx


pytestmark = pytest.mark.usefixtures("x64")


def _params():
  return {"w": jnp.asarray([[0.5, -1.0], [2.0, 0.25]]), "b": jnp.asarray([0.1, -0.3, 0.7])}


def _grad(params, t, bad=None):
  """A deterministic gradient for step t; `bad` (nan / inf) poisons one entry of 'b'."""
  g = jax.tree.map(lambda p: jnp.sin(3.0 * p + t) + 0.1 * p, params)
  if bad is not None:
    g["b"] = g["b"].at[1].set(bad)
  return g


@jax.jit
def _step(tx, params, state, grads):
  updates, state = tx.update(grads, state, params)
  return gradtx.apply_updates(params, updates), state, updates


def _assert_bit_identical(a, b):
  la, ta = jax.tree.flatten(a)
  lb, tb = jax.tree.flatten(b)
  assert ta == tb
  for x, y in zip(la, lb):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_gradient_leaves_params_and_inner_state_bit_identical(bad):
  tx = gradtx.apply_if_finite(gradtx.adam(0.1), max_consecutive_errors=5)
  p = _params()
  s = tx.init(p)
  for t in range(3):  # some finite steps first, so the moments are non-trivial
    p, s, _ = _step(tx, p, s, _grad(p, t))
  p_before, s_before = p, s
  p, s, updates = _step(tx, p, s, _grad(p, 3, bad))
  _assert_bit_identical(p, p_before)
  _assert_bit_identical(s.inner_state, s_before.inner_state)
  for u in jax.tree.leaves(updates):
    assert not np.any(np.asarray(u))
  assert int(s.notfinite_count) == 1 and int(s.total_notfinite) == 1
  assert not bool(s.last_finite)


def test_counters_follow_optax_and_reset_on_a_finite_step():
  bad = [None, np.nan, np.inf, None, np.nan, None, None, -np.inf, np.nan]
  tx = gradtx.apply_if_finite(gradtx.adam(0.1), max_consecutive_errors=5)
  ref = optax.apply_if_finite(optax.adam(0.1), max_consecutive_errors=5)
  p, q = _params(), _params()
  s, rs = tx.init(p), ref.init(q)
  counts = []
  for t, b in enumerate(bad):
    p, s, _ = _step(tx, p, s, _grad(p, t, b))
    u, rs = ref.update(_grad(q, t, b), rs, q)
    q = optax.apply_updates(q, u)
    counts.append((int(s.notfinite_count), int(s.total_notfinite), bool(s.last_finite)))
    assert counts[-1] == (int(rs.notfinite_count), int(rs.total_notfinite),
                          bool(rs.last_finite)), t
  assert counts == [(0, 0, True), (1, 1, False), (2, 2, False), (0, 2, True), (1, 3, False),
                    (0, 3, True), (0, 3, True), (1, 4, False), (2, 5, False)]
  for k in p:
    np.testing.assert_allclose(np.asarray(p[k]), np.asarray(q[k]), rtol=1e-12)


def test_finite_steps_equal_the_inner_optimizer_on_the_finite_gradients():
  bad = [None, np.nan, None, None, np.inf, np.nan, None]
  tx = gradtx.apply_if_finite(gradtx.adam(0.1), max_consecutive_errors=5)
  ref = optax.adam(0.1)
  p, q = _params(), _params()
  s, rs = tx.init(p), ref.init(q)
  for t, b in enumerate(bad):
    p, s, _ = _step(tx, p, s, _grad(p, t, b))
    if b is None:  # the plain run sees only the finite gradients
      u, rs = ref.update(_grad(q, t), rs, q)
      q = optax.apply_updates(q, u)
  for k in p:
    np.testing.assert_allclose(np.asarray(p[k]), np.asarray(q[k]), rtol=1e-12)
  assert int(s.inner_state[0].count) == 4


def test_gives_up_after_max_consecutive_errors():
  """max_consecutive_errors=2: two NaN steps are skipped, the third is applied (so a
  persistent NaN surfaces), as in Optax."""
  tx = gradtx.apply_if_finite(gradtx.sgd(0.1), max_consecutive_errors=2)
  ref = optax.apply_if_finite(optax.sgd(0.1), max_consecutive_errors=2)
  p, q = _params(), _params()
  s, rs = tx.init(p), ref.init(q)
  applied = []
  for t in range(4):
    before = p
    p, s, _ = _step(tx, p, s, _grad(p, t, np.nan))
    u, rs = ref.update(_grad(q, t, np.nan), rs, q)
    q = optax.apply_updates(q, u)
    applied.append(not bool(np.all(np.asarray(p["b"]) == np.asarray(before["b"]))))
    assert int(s.notfinite_count) == int(rs.notfinite_count) == t + 1
    np.testing.assert_array_equal(np.isnan(np.asarray(p["b"])), np.isnan(np.asarray(q["b"])))
  assert applied == [False, False, True, True]
  assert np.isnan(np.asarray(p["b"])[1])
  assert int(s.total_notfinite) == 4


def test_max_consecutive_errors_is_data():
  """Changing max_consecutive_errors does not retrace (a numeric leaf)."""
  traces = []

  @jax.jit
  def step(tx, params, state, grads):
    traces.append(None)
    return tx.update(grads, state, params)

  p = _params()
  for m, expect_applied in [(0, True), (3, False)]:
    tx = gradtx.apply_if_finite(gradtx.sgd(0.1), max_consecutive_errors=m)
    u, s = step(tx, p, tx.init(p), _grad(p, 0, np.nan))
    assert bool(np.any(np.isnan(np.asarray(u["b"])))) == expect_applied
  assert len(traces) == 1


def test_zero_nans_replaces_nan_by_zero_only():
  g = {"a": jnp.asarray([1.0, np.nan, -2.0, np.inf, -np.inf, np.nan]),
       "b": jnp.asarray([[np.nan, 0.5]])}
  tx = gradtx.zero_nans()
  out, state = jax.jit(tx.update)(g, tx.init(g))
  for k in g:
    want = np.where(np.isnan(np.asarray(g[k])), 0.0, np.asarray(g[k]))
    np.testing.assert_array_equal(np.asarray(out[k]), want)
  # Optax's ZeroNansState: one bool per leaf, whether that leaf held a NaN
  assert jax.tree.map(bool, state.found_nan) == {"a": True, "b": True}


def test_zero_nans_in_a_chain_equals_sgd_on_the_cleaned_gradient():
  tx = gradtx.chain(gradtx.zero_nans(), gradtx.sgd(0.1, momentum=0.9))
  ref = optax.sgd(0.1, momentum=0.9)
  p, q = _params(), _params()
  s, rs = tx.init(p), ref.init(q)
  for t in range(4):
    bad = np.nan if t % 2 else None
    p, s, _ = _step(tx, p, s, _grad(p, t, bad))
    clean = jax.tree.map(lambda x: jnp.where(jnp.isnan(x), 0.0, x), _grad(q, t, bad))
    u, rs = ref.update(clean, rs, q)
    q = optax.apply_updates(q, u)
  for k in p:
    np.testing.assert_allclose(np.asarray(p[k]), np.asarray(q[k]), rtol=1e-12)
  assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(p))
