"""`gradtx.second_order` against Optax's functions and against the dense Hessian
(`jax.hessian` of the flattened loss), in float64."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax import flatten_util

from gradtx import second_order as so

pytestmark = [pytest.mark.usefixtures("x64"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def _problem():
  rng = np.random.default_rng(0)
  params = {"w": jnp.asarray(rng.normal(size=(3, 2))), "b": jnp.asarray(rng.normal(size=2)),
            "s": jnp.asarray(0.7)}
  inputs = jnp.asarray(rng.normal(size=(5, 3)))
  targets = jnp.asarray(rng.integers(0, 2, size=5))

  def loss(p, x, y):
    logits = jnp.tanh(x @ p["w"] + p["b"]) * p["s"]
    return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(5), y])
  return loss, params, inputs, targets


def _dense_hessian(loss, params, x, y):
  flat, unravel = flatten_util.ravel_pytree(params)
  return jax.hessian(lambda f: loss(unravel(f), x, y))(flat)


@pytest.mark.slow
def test_hvp():
  loss, params, x, y = _problem()
  n = flatten_util.ravel_pytree(params)[0].size
  v = jnp.asarray(np.random.default_rng(1).normal(size=n))
  got = so.hvp(loss, v, params, x, y)
  want = optax.second_order.hvp(loss, v, params, x, y)
  np.testing.assert_allclose(flatten_util.ravel_pytree(got)[0],
                             flatten_util.ravel_pytree(want)[0], rtol=1e-12)
  np.testing.assert_allclose(flatten_util.ravel_pytree(got)[0],
                             _dense_hessian(loss, params, x, y) @ v, rtol=1e-10, atol=1e-14)
  with pytest.raises(ValueError, match="flattened params"):
    so.hvp(loss, jnp.ones(n + 1), params, x, y)


def test_hessian_and_fisher_diag():
  loss, params, x, y = _problem()
  np.testing.assert_allclose(so.hessian_diag(loss, params, x, y),
                             optax.second_order.hessian_diag(loss, params, x, y), rtol=1e-12)
  np.testing.assert_allclose(so.hessian_diag(loss, params, x, y),
                             jnp.diag(_dense_hessian(loss, params, x, y)), rtol=1e-10,
                             atol=1e-14)
  g = flatten_util.ravel_pytree(jax.grad(loss)(params, x, y))[0]
  np.testing.assert_allclose(so.fisher_diag(loss, params, x, y), np.asarray(g) ** 2,
                             rtol=1e-12)
  np.testing.assert_allclose(so.fisher_diag(loss, params, x, y),
                             optax.second_order.fisher_diag(loss, params, x, y), rtol=1e-12)


def test_deprecation_warning_like_optax():
  loss, params, x, y = _problem()
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    so.fisher_diag(loss, params, x, y)
  assert any(issubclass(w.category, DeprecationWarning) for w in caught)


def test_jit():
  loss, params, x, y = _problem()
  got = jax.jit(lambda p: so.hessian_diag(loss, p, x, y))(params)
  np.testing.assert_allclose(got, jnp.diag(_dense_hessian(loss, params, x, y)), rtol=1e-10,
                             atol=1e-14)
