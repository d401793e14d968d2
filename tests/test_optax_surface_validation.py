"""The Optax surface's new optimizers and primitives: bad hyperparameters refused at
construction (naming the argument), mismatched trees named by leaf path, no retrace
when a number changes under `jit`, and `vmap` over the learning rate."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx.core.validate import TreeMismatchError

BAD = [
    (gradtx.yogi, dict(learning_rate=0.1, b1=1.0), "b1"),
    (gradtx.yogi, dict(learning_rate=0.1, eps=-1.0), "eps"),
    (gradtx.scale_by_yogi, dict(initial_accumulator_value=0.0), "initial_accumulator_value"),
    (gradtx.sm3, dict(learning_rate=0.1, momentum=1.5), "momentum"),
    (gradtx.scale_by_sm3, dict(b2=1.2), "b2"),
    (gradtx.novograd, dict(learning_rate=0.1, b2=-0.1), "b2"),
    (gradtx.scale_by_novograd, dict(weight_decay=-1.0), "weight_decay"),
    (gradtx.adan, dict(learning_rate=0.1, b3=1.0), "b3"),
    (gradtx.adan, dict(learning_rate=0.1, eps_root=-1e-8), "eps_root"),
    (gradtx.adamaxw, dict(learning_rate=0.1, b2=2.0), "b2"),
    (gradtx.rprop, dict(learning_rate=-0.1), "learning_rate"),
    (gradtx.rprop, dict(learning_rate=0.1, eta_minus=1.5), "eta_minus"),
    (gradtx.rprop, dict(learning_rate=0.1, eta_plus=0.9), "eta_plus"),
    (gradtx.rprop, dict(learning_rate=0.1, min_step_size=1.0, max_step_size=0.5), "max_step_size"),
    (gradtx.signum, dict(learning_rate=0.1, beta=1.0), "beta"),
    (gradtx.optimistic_gradient_descent, dict(learning_rate=0.1, alpha=-1.0), "alpha"),
    (gradtx.optimistic_adam_v2, dict(learning_rate=0.1, beta=-1.0), "beta"),
    (gradtx.noisy_sgd, dict(learning_rate=0.1, eta=-0.01, key=0), "eta"),
    (gradtx.add_noise, dict(eta=0.01, gamma=-1.0, key=0), "gamma"),
    (gradtx.fromage, dict(learning_rate=0.1, min_norm=-1.0), "min_norm"),
    (gradtx.adaptive_grad_clip, dict(clipping=-1.0), "clipping"),
    (gradtx.normalize_by_update_norm, dict(eps=-1.0), "eps"),
    (gradtx.scale_by_param_block_norm, dict(min_scale=-1.0), "min_scale"),
    (gradtx.scale_by_distance_over_gradients, dict(reps_rel=0.0), "reps_rel"),
    (gradtx.scale_by_lion, dict(mode="invalid_mode"), "mode"),
]


def test_lion_bad_mode_fails_in_optax_too_but_only_at_update():
  """Optax's `test_lion_invalid_mode_raises` builds `scale_by_lion(mode='invalid_mode')` and
  expects the `ValueError` from `update`; gradtx raises it at construction (above)."""
  import optax

  tx = optax.scale_by_lion(mode="invalid_mode")
  g = jnp.asarray([0.1, -0.2])
  with pytest.raises(ValueError, match="mode"):
    tx.update(g, tx.init(g))


@pytest.mark.parametrize("factory,kwargs,arg", BAD, ids=[f"{f.__name__}-{a}" for f, _, a in BAD])
def test_bad_hyperparameter_refused_at_construction(factory, kwargs, arg):
  with pytest.raises(ValueError, match=rf"{arg}="):
    factory(**kwargs)


def test_optimistic_adam_refuses_a_schedule():
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    with pytest.raises(ValueError, match="learning_rate"):
      gradtx.optimistic_adam(gradtx.constant_schedule(0.1))


def test_add_noise_refuses_key_and_seed():
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    with pytest.raises(ValueError, match="key and seed"):
      gradtx.add_noise(0.01, 0.55, key=1, seed=1)


NEEDS_PARAMS = {
    "yogi": lambda: gradtx.yogi(0.1),
    "sm3": lambda: gradtx.sm3(0.1),
    "novograd": lambda: gradtx.novograd(0.1, weight_decay=0.1),
    "adan": lambda: gradtx.adan(0.1),
    "adamaxw": lambda: gradtx.adamaxw(0.1),
    "fromage": lambda: gradtx.fromage(0.1),
    "rprop": lambda: gradtx.rprop(0.1),
    "signum": lambda: gradtx.signum(0.1),
    "optimistic_gradient_descent": lambda: gradtx.optimistic_gradient_descent(0.1),
    "optimistic_adam_v2": lambda: gradtx.optimistic_adam_v2(0.1),
    "dog": lambda: gradtx.scale_by_distance_over_gradients(),
    "adaptive_grad_clip": lambda: gradtx.adaptive_grad_clip(0.1),
    "keep_params_nonnegative": lambda: gradtx.keep_params_nonnegative(),
    "scale_by_param_block_norm": lambda: gradtx.scale_by_param_block_norm(),
}
STATELESS = {
    "centralize": lambda: gradtx.centralize(),
    "normalize_by_update_norm": lambda: gradtx.normalize_by_update_norm(),
    "sign_sgd": lambda: gradtx.sign_sgd(0.1),
}


def _tree():
  return {"a": jnp.ones((3, 2)), "b": {"c": jnp.ones((4,))}}


@pytest.mark.parametrize("name", sorted(NEEDS_PARAMS))
def test_mismatched_tree_names_the_leaf(name):
  tx = NEEDS_PARAMS[name]()
  params = _tree()
  state = tx.init(params)
  wrong = {"a": jnp.ones((3, 2)), "b": {"c": jnp.ones((5,))}}
  with pytest.raises((TreeMismatchError, ValueError), match=r"\['b'\]\['c'\]"):
    tx.update(wrong, state, params)


@pytest.mark.parametrize("name", sorted(STATELESS))
def test_stateless_refuse_an_integer_leaf_by_path(name):
  """Those without per-leaf state or params still name a bad leaf by its path."""
  tx = STATELESS[name]()
  bad = {"a": jnp.ones((3, 2)), "b": {"c": jnp.ones((4,), jnp.int32)}}
  with pytest.raises(TypeError, match=r"\['b'\]\['c'\]"):
    tx.update(bad, tx.init(bad))


@pytest.mark.parametrize("name", ["adaptive_grad_clip", "keep_params_nonnegative", "dog",
                                  "scale_by_param_block_norm", "fromage"])
def test_missing_params_is_a_clear_error(name):
  tx = NEEDS_PARAMS[name]()
  params = _tree()
  with pytest.raises(ValueError, match="params"):
    tx.update(params, tx.init(params))


LR_OPTIMIZERS = {
    "yogi": gradtx.yogi, "sm3": gradtx.sm3, "novograd": gradtx.novograd, "adan": gradtx.adan,
    "adamaxw": gradtx.adamaxw, "fromage": gradtx.fromage, "rprop": gradtx.rprop,
    "sign_sgd": gradtx.sign_sgd, "signum": gradtx.signum,
    "optimistic_gradient_descent": gradtx.optimistic_gradient_descent,
    "optimistic_adam_v2": gradtx.optimistic_adam_v2,
    "noisy_sgd": lambda lr: gradtx.noisy_sgd(lr, key=0),
}
# In the default run; the others (compiling each costs seconds) run with the slow tests.
FAST = {"yogi", "rprop", "sign_sgd", "adan"}
LR_CASES = [pytest.param(n, marks=() if n in FAST else pytest.mark.slow) for n in sorted(LR_OPTIMIZERS)]


def _grads(params):
  return jax.tree.map(lambda p: jnp.sin(3 * p) + 0.1, params)


def _params():
  rng = np.random.default_rng(0)
  return {"w": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32),
          "b": jnp.asarray(rng.normal(size=(4,)), jnp.float32)}


def _run(tx, params, steps=3):
  state = tx.init(params)
  for _ in range(steps):
    updates, state = tx.update(_grads(params), state, params)
    params = gradtx.apply_updates(params, updates)
  return params


@pytest.mark.parametrize("name", LR_CASES)
def test_jit_new_learning_rate_does_not_retrace(name):
  traces = []

  @jax.jit
  def run(tx, params):
    traces.append(1)
    return _run(tx, params)

  params = _params()
  a = run(LR_OPTIMIZERS[name](0.1), params)
  b = run(LR_OPTIMIZERS[name](0.05), params)
  assert len(traces) == 1
  assert not all(bool(jnp.allclose(x, y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.mark.parametrize("name", LR_CASES)
def test_vmap_over_learning_rate_equals_separate_runs(name):
  params = _params()
  rates = jnp.asarray([0.1, 0.03, 0.01], jnp.float32)
  swept = jax.jit(jax.vmap(lambda lr: _run(LR_OPTIMIZERS[name](lr), params)))(rates)
  for i, lr in enumerate([0.1, 0.03, 0.01]):
    one = jax.jit(lambda p, lr=lr: _run(LR_OPTIMIZERS[name](lr), p))(params)
    for x, y in zip(jax.tree.leaves(swept), jax.tree.leaves(one)):
      np.testing.assert_allclose(x[i], y, rtol=2e-6, atol=1e-7)


DTYPE_CASES = {
    "yogi": lambda: gradtx.yogi(0.1), "sm3": lambda: gradtx.sm3(0.1),
    "scale_by_sm3_b2": lambda: gradtx.scale_by_sm3(b2=0.9),
    "novograd": lambda: gradtx.novograd(0.1, weight_decay=0.1), "adan": lambda: gradtx.adan(0.1),
    "adamaxw": lambda: gradtx.adamaxw(0.1), "fromage": lambda: gradtx.fromage(0.1),
    "rprop": lambda: gradtx.rprop(0.1), "sign_sgd": lambda: gradtx.sign_sgd(0.1),
    "signum": lambda: gradtx.signum(0.1), "noisy_sgd": lambda: gradtx.noisy_sgd(0.1, key=0),
    "optimistic_gradient_descent": lambda: gradtx.optimistic_gradient_descent(0.1),
    "optimistic_adam_v2": lambda: gradtx.optimistic_adam_v2(0.1),
    "dog": lambda: gradtx.scale_by_distance_over_gradients(),
    "adaptive_grad_clip": lambda: gradtx.adaptive_grad_clip(0.1),
    "centralize": lambda: gradtx.centralize(),
    "normalize_by_update_norm": lambda: gradtx.normalize_by_update_norm(),
    "keep_params_nonnegative": lambda: gradtx.keep_params_nonnegative(),
    "scale_by_param_block_norm": lambda: gradtx.scale_by_param_block_norm(),
}


@pytest.mark.slow
def test_low_precision_params_keep_their_dtypes():
  """bfloat16 / float16 params: updates come back in the param dtype, the state keeps the
  dtypes `init` gave it (no silent promotion), and nothing overflows."""
  params = {"w": jnp.ones((4, 3), jnp.bfloat16), "b": jnp.ones((3,), jnp.float16),
            "s": jnp.asarray(0.5, jnp.bfloat16)}
  grads = jax.tree.map(lambda p: (p * 0.3 + 0.1).astype(p.dtype), params)
  for name, build in DTYPE_CASES.items():
    tx = build()
    state0 = tx.init(params)
    updates, state1 = tx.update(grads, state0, params)
    updates, state2 = tx.update(grads, state1, params)
    for u, p in zip(jax.tree.leaves(updates), jax.tree.leaves(params)):
      assert (u.dtype, u.shape) == (p.dtype, p.shape), name
      assert bool(jnp.all(jnp.isfinite(u))), name
    assert jax.tree.map(lambda x: (x.dtype, x.shape), state0) == \
        jax.tree.map(lambda x: (x.dtype, x.shape), state2), name
