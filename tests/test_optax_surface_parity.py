"""The Optax surface's new optimizers and primitives against Optax 0.2.8, float64.

Each case runs 60 steps of a gradtx transformation and Optax's function of the same
name, built with the same arguments, from the same start on the same non-convex loss
over a tree of mixed shapes, and checks that the params agree at every step
(rtol 1e-10). Rprop and Adan, where gradtx follows the paper instead of Optax, are
tested against torch.optim.Rprop and a NumPy transcription of Adan's Algorithm 1 in
`test_optax_surface_references.py`.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx

STEPS = 60
RTOL, ATOL = 1e-10, 1e-13

pytestmark = pytest.mark.usefixtures("x64")


def _params(scalars: bool = True):
  rng = np.random.default_rng(0)
  f = lambda *shape: jnp.asarray(rng.normal(size=shape), jnp.float64)
  tree = {"dense": {"kernel": f(6, 5), "bias": f(5) * 0.1}, "conv": f(2, 3, 4, 3),
          "blocks": [f(3, 4, 2), {"w": f(4, 2)}], "vec": f(7)}
  if scalars:
    tree["blocks"][1]["scale"] = f() + 2.0
  return tree


def _loss(params):
  """Non-convex and coupled across leaves: sin + quartic + (sum tanh)^2."""
  leaves = jax.tree.leaves(params)
  fit = sum(jnp.sum(jnp.sin(2.0 * p) + 0.05 * p ** 4 + 0.3 * p) for p in leaves)
  coupling = sum(jnp.sum(jnp.tanh(p)) for p in leaves)
  return fit + 0.1 * coupling ** 2


_grad = jax.jit(jax.grad(_loss))


def _trajectory(tx, params, steps=STEPS):
  """The params after each of `steps` steps (one compiled update, reused)."""
  state = tx.init(params)
  update = jax.jit(tx.update)
  out = []
  for _ in range(steps):
    updates, state = update(_grad(params), state, params)
    params = jax.tree.map(lambda p, u: p + u, params, updates)
    out.append(params)
  return out


def _assert_same(got, want):
  for step, (a, b) in enumerate(zip(got, want)):
    for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(a), jax.tree.leaves(b)):
      assert x.shape == y.shape, (step, path)
      np.testing.assert_allclose(x, y, rtol=RTOL, atol=ATOL,
                                 err_msg=f"step {step + 1}, leaf {jax.tree_util.keystr(path)}")


def _no_warnings(fn, *args, **kwargs):
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    return fn(*args, **kwargs)


KEY = 3
# (name, build(lib), params have scalar leaves)
OPTIMIZERS = {
    "yogi": (lambda lib: lib.yogi(0.05), True),
    "yogi_args": (lambda lib: lib.yogi(0.02, b1=0.8, b2=0.99, eps=1e-4), True),
    "sm3": (lambda lib: lib.sm3(0.1), False),
    "sm3_momentum": (lambda lib: lib.sm3(0.05, momentum=0.5), False),
    "novograd": (lambda lib: lib.novograd(0.02), True),
    "novograd_wd": (lambda lib: lib.novograd(0.02, b1=0.8, b2=0.5, eps_root=1e-9,
                                             weight_decay=0.01), True),
    "fromage": (lambda lib: lib.fromage(0.05), True),
    "fromage_schedule": (lambda lib: lib.fromage(lambda count: 0.05 * 0.95 ** count), True),
    "sign_sgd": (lambda lib: lib.sign_sgd(0.01), True),
    "signum": (lambda lib: lib.signum(0.01, beta=0.8), True),
    "adamaxw": (lambda lib: lib.adamaxw(0.01, weight_decay=0.01), True),
    "adamaxw_mask": (lambda lib: lib.adamaxw(0.01, mask=lambda p: jax.tree.map(
        lambda x: x.ndim > 1, p)), True),
    "optimistic_gradient_descent": (lambda lib: lib.optimistic_gradient_descent(0.01), True),
    "optimistic_gradient_descent_args": (
        lambda lib: lib.optimistic_gradient_descent(0.01, alpha=0.5, beta=2.0), True),
    "optimistic_adam": (lambda lib: _no_warnings(lib.optimistic_adam, 0.01, optimism=0.02), True),
    "optimistic_adam_default": (lambda lib: _no_warnings(lib.optimistic_adam, 0.01,
                                                         nesterov=False), True),
    "optimistic_adam_v2": (lambda lib: lib.optimistic_adam_v2(0.01), True),
    "optimistic_adam_v2_args": (
        lambda lib: lib.optimistic_adam_v2(0.01, alpha=0.7, beta=0.3, b1=0.8, nesterov=False),
        True),
    "noisy_sgd": (lambda lib: lib.noisy_sgd(0.01, key=KEY), True),
    "noisy_sgd_key": (lambda lib: lib.noisy_sgd(0.01, eta=0.1, gamma=0.3,
                                                key=jax.random.key(KEY)), True),
}

PRIMITIVES = {
    "scale_by_yogi": (lambda lib: lib.scale_by_yogi(0.8, 0.99, 1e-4, 1e-9, 0.5), True),
    "scale_by_sm3_decayed": (lambda lib: lib.scale_by_sm3(0.8, 0.9, 1e-6), False),
    "scale_by_novograd": (lambda lib: lib.scale_by_novograd(mu_dtype=jnp.float64), True),
    "scale_by_sign": (lambda lib: lib.scale_by_sign(), True),
    "scale_by_optimistic_gradient": (
        lambda lib: lib.scale_by_optimistic_gradient(0.3, 0.6), True),
    "add_noise": (lambda lib: lib.add_noise(0.05, 0.55, KEY), True),
    "scale_by_param_block_norm": (lambda lib: lib.scale_by_param_block_norm(0.5), True),
    "scale_by_distance_over_gradients": (
        lambda lib: lib.scale_by_distance_over_gradients(1e-4, 1e-8, jnp.float64, 1.0), False),
    "adaptive_grad_clip": (lambda lib: lib.adaptive_grad_clip(0.05), True),
    "adaptive_grad_clip_axis": (lambda lib: lib.adaptive_grad_clip(0.05, 1e-2, axis=-1), False),
    "centralize": (lambda lib: lib.centralize(), True),
    "normalize_by_update_norm": (lambda lib: lib.normalize_by_update_norm(2.0, 1e-3), True),
}


# In the default run (each case compiles two optimizers, seconds on a shared CPU); the
# rest run with the slow tests.
FAST = {"yogi", "sm3", "novograd_wd", "signum", "optimistic_adam_v2", "adaptive_grad_clip",
        "scale_by_sign"}


def _cases(table):
  return [pytest.param(n, marks=() if n in FAST else pytest.mark.slow) for n in sorted(table)]


@pytest.mark.parametrize("name", _cases(OPTIMIZERS))
def test_optimizer_matches_optax(name):
  build, scalars = OPTIMIZERS[name]
  params = _params(scalars)
  _assert_same(_trajectory(build(gradtx), params), _trajectory(build(optax), params))


@pytest.mark.parametrize("name", _cases(PRIMITIVES))
def test_primitive_matches_optax(name):
  """Each primitive, followed by a plain descent step, as Optax's."""
  build, scalars = PRIMITIVES[name]
  params = _params(scalars)
  got = _trajectory(gradtx.chain(build(gradtx), gradtx.scale(-0.01)), params)
  want = _trajectory(optax.chain(build(optax), optax.scale(-0.01)), params)
  _assert_same(got, want)


def test_keep_params_nonnegative_matches_optax():
  params = jax.tree.map(jnp.abs, _params())
  got = _trajectory(gradtx.chain(gradtx.sgd(0.2), gradtx.keep_params_nonnegative()), params)
  want = _trajectory(optax.chain(optax.sgd(0.2), optax.keep_params_nonnegative()), params)
  _assert_same(got, want)
  assert all(bool(jnp.all(x >= 0)) for x in jax.tree.leaves(got[-1]))
  assert any(bool(jnp.any(x == 0)) for x in jax.tree.leaves(got[-1]))  # the constraint acted


@pytest.mark.parametrize("axis", [None, pytest.param(0, marks=pytest.mark.slow),
                                  pytest.param((0, 1), marks=pytest.mark.slow)])
def test_unitwise_norm_and_clip_match_optax(axis):
  rng = np.random.default_rng(4)
  for shape in [(5,), (1, 5, 1), (4, 3), (2, 3, 4), (2, 2, 3, 4), (2, 2, 2, 3, 2)]:
    if axis == (0, 1) and len(shape) < 2:
      continue
    x = jnp.asarray(rng.normal(size=shape))
    np.testing.assert_allclose(gradtx.unitwise_norm(x, axis), optax.transforms.unitwise_norm(x, axis),
                               rtol=1e-14)
    g_norm = gradtx.unitwise_norm(x, axis)
    max_norm = 0.7 * jnp.ones_like(g_norm)
    np.testing.assert_allclose(gradtx.unitwise_clip(g_norm, max_norm, x),
                               optax.transforms.unitwise_clip(g_norm, max_norm, x), rtol=1e-14)


@pytest.mark.parametrize("clip", [2.5] + [pytest.param(c, marks=pytest.mark.slow)
                                          for c in (0.0, 0.5, np.inf)])
def test_per_example_clipping_matches_optax(clip):
  rng = np.random.default_rng(5)
  grads = {"a": jnp.asarray(rng.normal(size=(6, 3))), "b": [jnp.asarray(rng.normal(size=(6, 2, 2)))],
           "c": jnp.asarray(rng.normal(size=(6,)))}
  grads["a"] = grads["a"].at[2].set(0.0)
  grads["b"][0] = grads["b"][0].at[2].set(0.0)
  grads["c"] = grads["c"].at[2].set(0.0)  # an all-zero example: 0 / 0
  for got, want in [
      (gradtx.per_example_global_norm_clip(grads, clip),
       optax.per_example_global_norm_clip(grads, clip)),
      (gradtx.per_example_layer_norm_clip(grads, clip),
       optax.per_example_layer_norm_clip(grads, clip)),
      (gradtx.per_example_layer_norm_clip(grads, clip, uniform=False),
       optax.per_example_layer_norm_clip(grads, clip, uniform=False))]:
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for x, y in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
      np.testing.assert_allclose(x, y, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("scale", [0.25] + [pytest.param(s, marks=pytest.mark.slow)
                                            for s in (0.0, 1.0, -2.0)])
def test_scale_gradient_matches_optax(scale):
  params = _params()

  def loss(lib, p):
    return _loss(lib.scale_gradient(p, scale))

  np.testing.assert_allclose(loss(gradtx, params), _loss(params), rtol=0)
  got = jax.grad(lambda p: loss(gradtx, p))(params)
  want = jax.grad(lambda p: loss(optax, p))(params)
  for x, y in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(x, y, rtol=1e-14, atol=1e-15)
  traced = jax.jit(jax.grad(lambda p, s: _loss(gradtx.scale_gradient(p, s))))(params, scale)
  for x, y in zip(jax.tree.leaves(traced), jax.tree.leaves(want)):
    np.testing.assert_allclose(x, y, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", ["sm3", pytest.param("dog", marks=pytest.mark.slow)])
def test_scalar_leaves_behave_as_one_element_vectors(name):
  """Optax's SM3 raises on a 0-d leaf and its DoG turns a 0-d update into shape (1,);
  gradtx treats a scalar as Optax treats a vector of one element (docs/differences.md)."""
  build = {"sm3": lambda lib: lib.sm3(0.05),
           "dog": lambda lib: lib.chain(lib.scale_by_distance_over_gradients(
               1e-4, 1e-8, jnp.float64), lib.scale(-0.01))}[name]
  params = _params(scalars=False)
  params["s"] = jnp.asarray(1.5, jnp.float64)
  got = _trajectory(build(gradtx), params, steps=20)
  as_vector = dict(params, s=params["s"].reshape(1))
  want = _trajectory(build(optax), as_vector, steps=20)
  want = [dict(w, s=w["s"].reshape(())) for w in want]
  _assert_same(got, want)
