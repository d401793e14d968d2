"""gradtx optimizers used from Flax (linen TrainState, nnx.Optimizer), Equinox and Optax.

Every gradtx transformation follows Optax's protocol, so it must drop into the
places those libraries expect an `optax.GradientTransformation`, give the same
numbers as Optax there, and behave as a static (hashable, comparable) field.
"""

from __future__ import annotations

import equinox as eqx
import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from flax import linen as nn
from flax.training import train_state

import gradtx


def _data(n=32, d_in=5, d_out=3, seed=0):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, d_in)).astype(np.float32)
  w = rng.normal(size=(d_in, d_out)).astype(np.float32)
  return jnp.asarray(x), jnp.asarray(x @ w + 0.1 * rng.normal(size=(n, d_out)).astype(np.float32))


def _tree_allclose(a, b, rtol=1e-6, atol=1e-7):
  la, ta = jax.tree.flatten(a)
  lb, tb = jax.tree.flatten(b)
  assert ta == tb
  for x, y in zip(la, lb):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


# -- Flax linen: flax.training.train_state.TrainState -----------------------------------

class _LinenMLP(nn.Module):

  @nn.compact
  def __call__(self, x):
    return nn.Dense(3)(nn.tanh(nn.Dense(8)(x)))


_LINEN_MODEL = _LinenMLP()  # one instance, so that `apply_fn` (a static field) is shared


def _linen_state(tx):
  x, _ = _data()
  params = _LINEN_MODEL.init(jax.random.key(0), x)["params"]
  return train_state.TrainState.create(apply_fn=_LINEN_MODEL.apply, params=params, tx=tx)


def _linen_grads(state, x, y):
  def loss_fn(params):
    return jnp.mean((state.apply_fn({"params": params}, x) - y) ** 2)
  return jax.value_and_grad(loss_fn)(state.params)


def _linen_step(state, x, y):
  loss, grads = _linen_grads(state, x, y)
  return state.apply_gradients(grads=grads), loss


_jit_linen_grads = jax.jit(_linen_grads)


def _eager_linen_step(state, x, y):
  # The model's gradients are jitted (its speed is not under test); TrainState's
  # apply_gradients -- tx.update and apply_updates -- runs eagerly.
  loss, grads = _jit_linen_grads(state, x, y)
  return state.apply_gradients(grads=grads), loss


def _run_linen(tx, steps=5, jit=True):
  state = _linen_state(tx)
  x, y = _data()
  step = jax.jit(_linen_step) if jit else _eager_linen_step
  losses = []
  for _ in range(steps):
    state, loss = step(state, x, y)
    losses.append(float(loss))
  return state, losses


@pytest.mark.parametrize("jit", [False, True])
def test_linen_train_state_matches_optax(jit):
  steps = 5
  ours, our_losses = _run_linen(gradtx.adamw(1e-2, weight_decay=1e-3), steps, jit=jit)
  ref, ref_losses = _run_linen(optax.adamw(1e-2, weight_decay=1e-3), steps, jit=jit)
  assert int(ours.step) == steps
  assert our_losses[-1] < our_losses[0]
  _tree_allclose(ours.params, ref.params, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(our_losses, ref_losses, rtol=1e-5)


def test_linen_train_state_tx_is_static_and_does_not_retrace():
  traces = []

  @jax.jit
  def step(state, x, y):
    traces.append(1)
    return _linen_step(state, x, y)

  x, y = _data()
  state = _linen_state(gradtx.sgd(0.1, momentum=0.9))
  state, _ = step(state, x, y)
  state, _ = step(state, x, y)
  # A new state built with an equal (not identical) optimizer hits the same cache entry:
  # TrainState.tx is pytree_node=False, so jit hashes and compares it by value.
  other = _linen_state(gradtx.sgd(0.1, momentum=0.9))
  other, _ = step(other, x, y)
  assert len(traces) == 1
  # A different learning rate is a different static field: one new trace, no error.
  third = _linen_state(gradtx.sgd(0.05, momentum=0.9))
  step(third, x, y)
  assert len(traces) == 2


def test_optimizers_are_hashable_and_equal_by_value():
  sched = gradtx.warmup_cosine_decay_schedule(0.0, 1e-3, 10, 100)
  make = [
      lambda: gradtx.adam(1e-3),
      lambda: gradtx.adamw(sched, weight_decay=0.1),
      lambda: gradtx.sgd(0.1, momentum=0.9, nesterov=True),
      lambda: gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.adamw(sched)),
      lambda: gradtx.rmsprop(1e-3, centered=True),
      lambda: gradtx.adagrad(1e-2),
  ]
  for fn in make:
    a, b = fn(), fn()
    assert a is not b and a == b and hash(a) == hash(b)
    assert len({a, b}) == 1
    # The static-field protocol jit uses: equal treedefs for equal optimizers.
    assert jax.tree.structure(a) == jax.tree.structure(b)
  assert gradtx.adam(1e-3) != gradtx.adam(2e-3)
  assert gradtx.adam(1e-3) != gradtx.adamw(1e-3)
  assert gradtx.sgd(0.1, momentum=0.9) != gradtx.sgd(0.1, momentum=0.9, nesterov=True)


def test_optimizer_works_as_jit_static_argument():
  opt = gradtx.adam(1e-2)
  params = {"w": jnp.ones(3)}

  @jax.jit
  def step(p, s, tx):  # tx passed as a pytree argument: its numbers are traced
    g = jax.tree.map(lambda x: 2 * x, p)
    u, s = tx.update(g, s, p)
    return gradtx.apply_updates(p, u), s

  step_static = jax.jit(lambda p, s, tx: step(p, s, tx), static_argnums=2)
  p1, _ = step(params, opt.init(params), opt)
  p2, _ = step_static(params, opt.init(params), gradtx.adam(1e-2))
  _tree_allclose(p1, p2, rtol=0, atol=0)


# -- Flax nnx: nnx.Optimizer ------------------------------------------------------------

class _NnxMLP(nnx.Module):

  def __init__(self, rngs):
    self.l1 = nnx.Linear(5, 8, rngs=rngs)
    self.l2 = nnx.Linear(8, 3, rngs=rngs)

  def __call__(self, x):
    return self.l2(jnp.tanh(self.l1(x)))


# flax 0.11 changed nnx.Optimizer: `update(model, grads)`, no `model` attribute.
_NNX_UPDATE_TAKES_MODEL = tuple(int(v) for v in flax.__version__.split(".")[:2]) >= (0, 11)


def _run_nnx(tx, steps=5):
  model = _NnxMLP(nnx.Rngs(0))
  optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
  x, y = _data()

  @nnx.jit
  def step(model, optimizer, x, y):
    def loss_fn(model):
      return jnp.mean((model(x) - y) ** 2)
    loss, grads = nnx.value_and_grad(loss_fn)(model)
    if _NNX_UPDATE_TAKES_MODEL:
      optimizer.update(model, grads)
    else:  # pragma: no cover - flax < 0.11
      optimizer.update(grads)
    return loss

  losses = [float(step(model, optimizer, x, y)) for _ in range(steps)]
  return model, optimizer, losses


def test_nnx_optimizer_matches_optax():
  sched = gradtx.linear_schedule(1e-2, 1e-3, 5)
  model, optimizer, losses = _run_nnx(
      gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.adamw(sched, weight_decay=1e-3)))
  ref_sched = optax.linear_schedule(1e-2, 1e-3, 5)
  ref_model, _, ref_losses = _run_nnx(
      optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(ref_sched, weight_decay=1e-3)))
  assert int(optimizer.step[...]) == 5
  assert losses[-1] < losses[0]
  np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
  _tree_allclose(nnx.state(model, nnx.Param), nnx.state(ref_model, nnx.Param), rtol=1e-5,
                 atol=1e-6)


def test_nnx_optimizer_with_array_hyperparameters_after_tree_map_float():
  # nnx.Optimizer keeps `tx` as a static attribute, and flax>=0.12 refuses static values
  # holding jax.Arrays. A gradtx optimizer is a pytree of its hyperparameters, so one built
  # from arrays converts to Python numbers with one tree_map.
  tx = gradtx.adamw(jnp.asarray(1e-2), weight_decay=jnp.asarray(1e-3))
  tx = jax.tree.map(float, tx)
  assert all(type(leaf) is float for leaf in jax.tree.leaves(tx))
  _, optimizer, losses = _run_nnx(tx, steps=2)
  assert losses[-1] < losses[0]


# -- Equinox ----------------------------------------------------------------------------

def _run_eqx(tx, steps=5):
  model = eqx.nn.MLP(5, 3, width_size=8, depth=1, activation=jnp.tanh, key=jax.random.key(0))
  x, y = _data()
  opt_state = tx.init(eqx.filter(model, eqx.is_inexact_array))

  @eqx.filter_jit
  def step(model, opt_state, x, y):
    def loss_fn(model):
      return jnp.mean((jax.vmap(model)(x) - y) ** 2)
    loss, grads = eqx.filter_value_and_grad(loss_fn)(model)
    updates, opt_state = tx.update(grads, opt_state, eqx.filter(model, eqx.is_inexact_array))
    return eqx.apply_updates(model, updates), opt_state, loss

  losses = []
  for _ in range(steps):
    model, opt_state, loss = step(model, opt_state, x, y)
    losses.append(float(loss))
  return model, opt_state, losses


@pytest.mark.parametrize("name", ["adamw", "sgd_momentum", "rmsprop"])
def test_equinox_loop_matches_optax(name):
  ours, refs = {
      "adamw": (gradtx.adamw(1e-2, weight_decay=1e-3), optax.adamw(1e-2, weight_decay=1e-3)),
      "sgd_momentum": (gradtx.sgd(0.05, momentum=0.9), optax.sgd(0.05, momentum=0.9)),
      "rmsprop": (gradtx.rmsprop(1e-3), optax.rmsprop(1e-3)),
  }[name]
  model, _, losses = _run_eqx(ours)
  ref_model, _, ref_losses = _run_eqx(refs)
  assert losses[-1] < losses[0]
  np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
  _tree_allclose(eqx.filter(model, eqx.is_inexact_array),
                 eqx.filter(ref_model, eqx.is_inexact_array), rtol=1e-5, atol=1e-6)


# -- Optax: mixing transformations both ways --------------------------------------------

def _trajectory(tx, steps=6, seed=1):
  rng = np.random.default_rng(seed)
  params = {"a": jnp.asarray(rng.normal(size=(4, 3)), jnp.float32),
            "b": jnp.asarray(rng.normal(size=(3,)), jnp.float32)}
  target = jax.tree.map(lambda p: 3.0 * jnp.ones_like(p), params)
  state = tx.init(params)

  @jax.jit
  def step(params, state):
    # A steep loss, so that the global-norm clip is active on every step.
    grads = jax.grad(lambda p: 10 * sum(jnp.sum((x - t) ** 2) for x, t in zip(
        jax.tree.leaves(p), jax.tree.leaves(target))))(params)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  out = []
  for _ in range(steps):
    params, state = step(params, state)
    out.append(params)
  return out


def _assert_same_trajectory(a, b, rtol=1e-6, atol=1e-7):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    _tree_allclose(x, y, rtol=rtol, atol=atol)


def test_gradtx_transform_inside_optax_chain():
  mixed = optax.chain(gradtx.clip_by_global_norm(1.0), optax.adam(1e-1))
  pure = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-1))
  _assert_same_trajectory(_trajectory(mixed), _trajectory(pure))


def test_optax_transform_inside_gradtx_chain():
  mixed = gradtx.chain(optax.clip_by_global_norm(1.0), gradtx.adam(1e-1))
  pure = gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.adam(1e-1))
  _assert_same_trajectory(_trajectory(mixed), _trajectory(pure))


def test_gradtx_optimizer_inside_optax_chain_with_schedule():
  sched = gradtx.warmup_cosine_decay_schedule(0.0, 0.1, 2, 6)
  opt_sched = optax.warmup_cosine_decay_schedule(0.0, 0.1, 2, 6)
  mixed = optax.chain(optax.clip_by_global_norm(1.0),
                      gradtx.adamw(sched, weight_decay=1e-2))
  pure = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(opt_sched, weight_decay=1e-2))
  _assert_same_trajectory(_trajectory(mixed), _trajectory(pure), rtol=1e-5, atol=1e-6)


def test_optax_wrappers_accept_gradtx():
  # MultiSteps (gradient accumulation) and multi_transform take any (init, update) pair.
  acc = optax.MultiSteps(gradtx.sgd(0.1, momentum=0.9), every_k_schedule=2)
  ref = optax.MultiSteps(optax.sgd(0.1, momentum=0.9), every_k_schedule=2)
  _assert_same_trajectory(_trajectory(acc), _trajectory(ref))
  labels = {"a": "fast", "b": "frozen"}
  multi = optax.multi_transform({"fast": gradtx.adam(1e-1), "frozen": optax.set_to_zero()},
                                labels)
  multi_ref = optax.multi_transform({"fast": optax.adam(1e-1), "frozen": optax.set_to_zero()},
                                    labels)
  traj = _trajectory(multi)
  _assert_same_trajectory(traj, _trajectory(multi_ref), rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(traj[-1]["b"], traj[0]["b"])


def test_unpacks_as_optax_pair():
  init, update = gradtx.adam(1e-3)
  params = {"w": jnp.zeros(2)}
  ours = gradtx.apply_updates(params, update({"w": jnp.ones(2)}, init(params), params)[0])
  opt = optax.adam(1e-3)
  ref = optax.apply_updates(params, opt.update({"w": jnp.ones(2)}, opt.init(params))[0])
  _tree_allclose(ours, ref)
