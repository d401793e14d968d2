"""Optax's public numeric helpers at gradtx's top level, against Optax's functions (float64)
and against NumPy / SciPy written from the definitions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.optimize
import scipy.stats

import gradtx
from gradtx.core.validate import TreeMismatchError

pytestmark = pytest.mark.usefixtures("x64")


def _close(a, b, rtol=1e-10, atol=1e-300):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def _spd(n, seed=0, cond=100.0):
  rng = np.random.default_rng(seed)
  q, _ = np.linalg.qr(rng.normal(size=(n, n)))
  return (q * np.geomspace(1.0, 1.0 / cond, n)) @ q.T


def test_top_level_names_are_optaxs_functions():
  assert gradtx.update_moment is gradtx.tree_utils.tree_update_moment
  assert gradtx.update_infinity_moment is gradtx.tree.update_infinity_moment
  assert gradtx.update_moment_per_elem_norm is gradtx.tree.update_moment_per_elem_norm
  assert gradtx.bias_correction is gradtx.tree_utils.tree_bias_correction
  assert gradtx.tree_map_params is gradtx.tree_utils.tree_map_params
  assert gradtx.safe_int32_increment is gradtx.safe_increment
  m = {"a": jnp.arange(1.0, 4.0), "b": jnp.asarray(2.0)}
  _close(gradtx.bias_correction(m, 0.9, 3), optax.bias_correction(m, 0.9, 3))
  _close(gradtx.update_moment(m, m, 0.8, 2), optax.update_moment(m, m, 0.8, 2))


@pytest.mark.parametrize("ord_,axis,keepdims", [(None, None, False), (2, 1, True), (1, 0, False),
                                                (jnp.inf, None, False), ("fro", (0, 1), True)])
def test_safe_norm_matches_optax_values_and_gradients(ord_, axis, keepdims):
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(3, 4)))
  x = x.at[0].set(0.0)  # a zero row: the floor is taken there along axis 1
  for min_norm in (0.0, 0.5, 3.0):
    got = gradtx.safe_norm(x, min_norm, ord_, axis, keepdims)
    _close(got, optax.safe_norm(x, min_norm, ord_, axis, keepdims))
    loss = lambda f: lambda y: jnp.sum(f(y, min_norm, ord_, axis, keepdims))
    g = jax.grad(loss(gradtx.safe_norm))(x)
    assert bool(jnp.all(jnp.isfinite(g)))
    _close(g, jax.grad(loss(optax.safe_norm))(x))
  assert float(jax.grad(lambda y: gradtx.safe_norm(y, 1e-3))(jnp.zeros(3))[0]) == 0.0


def test_safe_root_mean_squares():
  x = jnp.asarray([3.0, -4.0, 0.0, 1.0])
  np.testing.assert_allclose(gradtx.safe_root_mean_squares(x, 0.1),
                             np.sqrt(np.mean(np.asarray(x) ** 2)), rtol=1e-14)
  assert float(gradtx.safe_root_mean_squares(jnp.zeros(3), 0.1)) == 0.1
  g = jax.grad(lambda y: gradtx.safe_root_mean_squares(y, 0.1))(jnp.zeros(3))
  np.testing.assert_array_equal(g, np.zeros(3))
  z = x + 1j * x[::-1]
  _close(gradtx.safe_root_mean_squares(z, 0.0), optax.safe_root_mean_squares(z, 0.0))


@pytest.mark.parametrize("dtype", [jnp.int32, jnp.int8, jnp.uint8, jnp.float32])
def test_safe_increment(dtype):
  top = jnp.iinfo(dtype).max if jnp.issubdtype(dtype, jnp.integer) else jnp.finfo(dtype).max
  for start in (0, 5, top):
    count = jnp.asarray(start, dtype)
    got = gradtx.safe_increment(count)
    assert got.dtype == dtype and got == optax.safe_increment(count)
  assert gradtx.safe_increment(jnp.asarray(top, dtype)) == top
  with pytest.raises(ValueError, match="dtype bool"):
    gradtx.safe_increment(jnp.asarray(True))


@pytest.mark.slow
def test_power_iteration_matrix_and_operator():
  a = jnp.asarray(_spd(6, seed=2, cond=20.0)) * 3.0
  lam, v = gradtx.power_iteration(a, num_iters=500, error_tolerance=1e-12)
  lam_o, v_o = optax.power_iteration(a, num_iters=500, error_tolerance=1e-12)
  _close((lam, v), (lam_o, v_o))
  w, vecs = np.linalg.eigh(np.asarray(a))
  np.testing.assert_allclose(lam, w[-1], rtol=1e-8)
  np.testing.assert_allclose(abs(np.dot(v, vecs[:, -1])), 1.0, rtol=1e-8)
  # a linear operator on a tree (two blocks of one block-diagonal matrix)
  op = lambda t: {"x": a @ t["x"], "y": 0.5 * t["y"]}
  v0 = {"x": jnp.ones(6), "y": jnp.ones(2)}
  got = gradtx.power_iteration(op, v0=v0, num_iters=500, error_tolerance=1e-12)
  _close(got, optax.power_iteration(op, v0=v0, num_iters=500, error_tolerance=1e-12))
  with pytest.raises(ValueError, match="v0"):
    gradtx.power_iteration(op)
  with pytest.raises(ValueError, match="square"):
    gradtx.power_iteration(jnp.ones((2, 3)))


@pytest.mark.parametrize("p", [2, 4])
def test_matrix_inverse_pth_root(p):
  a = _spd(8, seed=3, cond=50.0)
  root, error = gradtx.matrix_inverse_pth_root(jnp.asarray(a), p, ridge_epsilon=0.0,
                                               error_tolerance=1e-12)
  w, q = np.linalg.eigh(a)
  np.testing.assert_allclose(root, (q * w ** (-1.0 / p)) @ q.T, rtol=1e-7, atol=1e-9)
  assert float(error) < 1e-8
  # Optax's iteration on the same float64 matrix (its float32 constants are exact for
  # these p) takes the same steps
  root_o, _ = optax.matrix_inverse_pth_root(jnp.asarray(a), p, ridge_epsilon=0.0,
                                            error_tolerance=1e-12)
  _close(root, root_o, rtol=1e-9, atol=1e-12)


@pytest.mark.slow
def test_matrix_inverse_pth_root_odd_power_and_scalar():
  a = _spd(5, seed=4, cond=10.0)
  root, _ = gradtx.matrix_inverse_pth_root(jnp.asarray(a), 3, ridge_epsilon=0.0,
                                           error_tolerance=1e-12)
  w, q = np.linalg.eigh(a)
  np.testing.assert_allclose(root, (q * w ** (-1.0 / 3)) @ q.T, rtol=1e-7, atol=1e-9)
  one, _ = gradtx.matrix_inverse_pth_root(jnp.asarray([[4.0]]), 2, ridge_epsilon=0.0)
  np.testing.assert_allclose(one, [[0.5]], rtol=1e-12)


@pytest.mark.parametrize("k", [(), (3,)])
def test_nnls(k):
  rng = np.random.default_rng(5)
  a = jnp.asarray(rng.normal(size=(12, 6)))
  b = jnp.asarray(rng.normal(size=(12, *k)))
  for iters in (0, 1, 7):
    _close(gradtx.nnls(a, b, iters), optax.nnls(a, b, iters), rtol=1e-12, atol=1e-14)
  x = gradtx.nnls(a, b, 5000)
  cols = [np.asarray(b)] if not k else list(np.asarray(b).T)
  ref = [scipy.optimize.nnls(np.asarray(a), c)[0] for c in cols]
  np.testing.assert_allclose(x if k else x[:, None], np.stack(ref, 1), atol=1e-8)
  with pytest.raises(ValueError, match="b must have shape"):
    gradtx.nnls(a, jnp.ones(5), 3)


def test_multi_normal():
  loc, log_scale = jnp.asarray([[0.5, -1.0, 2.0]]), jnp.asarray([[0.1], [-0.3]])
  dist = gradtx.multi_normal(loc, log_scale)
  ref = optax.multi_normal(loc, log_scale)
  key = jax.random.key(0)
  _close(dist.sample((4,), key), ref.sample((4,), key))
  x = jnp.asarray(np.random.default_rng(6).normal(size=(2, 3)))
  want = scipy.stats.norm.logpdf(np.asarray(x), np.asarray(loc), np.exp(np.asarray(log_scale)))
  np.testing.assert_allclose(dist.log_prob(x), want.sum(), rtol=1e-12)
  _close(dist.params, ref.params)
  with pytest.raises(ValueError, match="Incompatible shapes"):
    gradtx.multi_normal(jnp.ones((2, 3)), jnp.ones((3, 2)))


def test_incremental_and_periodic_update():
  new = {"a": jnp.arange(3.0), "b": jnp.asarray(2.0), "c": None}
  old = {"a": jnp.ones(3), "b": jnp.asarray(-1.0), "c": jnp.ones(2)}
  _close(gradtx.incremental_update(new, old, 0.3), optax.incremental_update(new, old, 0.3))
  assert gradtx.incremental_update(new, old, 0.3)["c"] is None
  new2, old2 = {"a": jnp.arange(3.0)}, {"a": jnp.ones(3)}
  for step in (0, 3, 10):
    _close(gradtx.periodic_update(new2, old2, jnp.asarray(step), 5),
           optax.periodic_update(new2, old2, jnp.asarray(step), 5))
  with pytest.raises(TreeMismatchError, match=r"\['a'\]"):
    gradtx.incremental_update({"a": jnp.ones(2)}, {"a": jnp.ones(3)}, 0.5)


def test_apply_updates_none_params():
  assert gradtx.apply_updates(None, jnp.ones(3)) is None
  got = gradtx.apply_updates({"a": None, "b": jnp.ones(2)}, {"a": jnp.ones(3), "b": jnp.ones(2)})
  assert got["a"] is None
  np.testing.assert_array_equal(got["b"], 2 * np.ones(2))
