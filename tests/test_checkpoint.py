"""Optimizer state and optimizers survive checkpoints: orbax, pickle and numpy.

Resuming from a checkpoint must be bit-for-bit identical to not stopping:
2N straight steps == N steps, save, restore, N steps (exact equality).
"""

from __future__ import annotations

import pickle

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

import gradtx

N = 4


def _problem(seed=0):
  rng = np.random.default_rng(seed)
  params = {"dense": {"w": jnp.asarray(rng.normal(size=(6, 4)), jnp.float32),
                      "b": jnp.zeros((4,), jnp.float32)},
            "scale": jnp.ones((), jnp.float32)}
  x = jnp.asarray(rng.normal(size=(16, 6)), jnp.float32)
  y = jnp.asarray(rng.normal(size=(16, 4)), jnp.float32)
  return params, x, y


def _optimizers():
  sched = gradtx.warmup_cosine_decay_schedule(0.0, 5e-2, 3, 20)
  return {
      # schedule counts live in two stages here (adamw's learning rate and weight decay)
      "clip_adamw_schedule": gradtx.chain(gradtx.clip_by_global_norm(1.0),
                                          gradtx.adamw(sched, weight_decay=1e-2)),
      "sgd_momentum": gradtx.sgd(gradtx.exponential_decay(0.1, 5, 0.5), momentum=0.9,
                                 nesterov=True),
      "rmsprop_centered": gradtx.rmsprop(1e-2, centered=True, momentum=0.5),
  }


@jax.jit
def _jit_step(opt, params, state, x, y):
  # The optimizer is a pytree argument: its numbers are traced, so equal optimizers
  # (a pickled clone, a restored run) share one compilation.
  def loss_fn(p):
    out = p["scale"] * jnp.tanh(x @ p["dense"]["w"] + p["dense"]["b"])
    return jnp.mean((out - y) ** 2)
  grads = jax.grad(loss_fn)(params)
  updates, state = opt.update(grads, state, params)
  return gradtx.apply_updates(params, updates), state


def _make_step(opt):
  return lambda params, state, x, y: _jit_step(opt, params, state, x, y)


def _run(step, params, state, x, y, n):
  for _ in range(n):
    params, state = step(params, state, x, y)
  return params, state


def _assert_identical(a, b):
  la, ta = jax.tree.flatten(a)
  lb, tb = jax.tree.flatten(b)
  assert ta == tb, (ta, tb)
  for u, v in zip(la, lb):
    u, v = np.asarray(u), np.asarray(v)
    assert u.dtype == v.dtype and u.shape == v.shape
    np.testing.assert_array_equal(u, v)


def _counts(state):
  """All integer scalars in the state (step counts of the stages)."""
  return [int(x) for x in jax.tree.leaves(state)
          if np.ndim(x) == 0 and jnp.issubdtype(jnp.asarray(x).dtype, jnp.integer)]


@pytest.fixture(scope="module", params=list(_optimizers()))
def straight(request):
  """(name, opt, step, initial params, x, y, state after N steps, result after 2N steps)."""
  opt = _optimizers()[request.param]
  step = _make_step(opt)
  params, x, y = _problem()
  mid = _run(step, params, opt.init(params), x, y, N)
  end = _run(step, *mid, x, y, N)
  return opt, step, params, x, y, mid, end


def test_orbax_standard_checkpointer_resumes_bit_for_bit(straight, tmp_path):
  opt, step, params0, x, y, (params, state), end = straight
  ckpt = ocp.StandardCheckpointer()
  ckpt.save(tmp_path / "ckpt", {"params": params, "opt_state": state})
  ckpt.wait_until_finished()
  # Restore against a freshly built target: same structure, so NamedTuple states and
  # tuples (chain) come back as such, not as orbax's dicts/lists.
  target = {"params": params0, "opt_state": opt.init(params0)}
  restored = ckpt.restore(tmp_path / "ckpt", target)
  ckpt.close()
  assert jax.tree.structure(restored) == jax.tree.structure(target)
  _assert_identical(restored["opt_state"], state)
  assert _counts(restored["opt_state"]) and all(c == N for c in _counts(restored["opt_state"]))
  resumed = _run(step, restored["params"], restored["opt_state"], x, y, N)
  _assert_identical(resumed, end)


def test_orbax_checkpoint_manager_resumes_bit_for_bit(straight, tmp_path):
  opt, step, params0, x, y, (params, state), end = straight
  options = ocp.CheckpointManagerOptions(max_to_keep=2)
  with ocp.CheckpointManager(tmp_path / "run", options=options) as mngr:
    mngr.save(N, args=ocp.args.StandardSave({"params": params, "opt_state": state}))
    mngr.wait_until_finished()
  # A new process would do this: build the target from init, restore the latest step.
  with ocp.CheckpointManager(tmp_path / "run", options=options) as mngr:
    assert mngr.latest_step() == N
    target = {"params": params0, "opt_state": opt.init(params0)}
    restored = mngr.restore(mngr.latest_step(), args=ocp.args.StandardRestore(target))
  resumed = _run(step, restored["params"], restored["opt_state"], x, y, N)
  _assert_identical(resumed, end)


def test_pickle_of_device_get_resumes_bit_for_bit(straight, tmp_path):
  opt, step, _, x, y, (params, state), end = straight
  path = tmp_path / "state.pkl"
  path.write_bytes(pickle.dumps(jax.device_get({"params": params, "opt_state": state})))
  restored = pickle.loads(path.read_bytes())
  # NamedTuple states pickle as themselves; leaves are numpy arrays.
  assert jax.tree.structure(restored["opt_state"]) == jax.tree.structure(state)
  assert all(isinstance(leaf, np.ndarray | np.generic) for leaf in jax.tree.leaves(restored))
  resumed = _run(step, restored["params"], restored["opt_state"], x, y, N)
  _assert_identical(resumed, end)


def test_numpy_npz_resumes_bit_for_bit(straight, tmp_path):
  opt, step, params0, x, y, (params, state), end = straight
  leaves = jax.tree.leaves(jax.device_get((params, state)))
  np.savez(tmp_path / "ckpt.npz", *leaves)
  with np.load(tmp_path / "ckpt.npz") as data:
    loaded = [data[f"arr_{i}"] for i in range(len(data.files))]
  # The structure comes from the code, not the file: unflatten into a fresh init.
  treedef = jax.tree.structure((params0, opt.init(params0)))
  restored_params, restored_state = jax.tree.unflatten(treedef, loaded)
  resumed = _run(step, restored_params, restored_state, x, y, N)
  _assert_identical(resumed, end)


@pytest.mark.parametrize("name", list(_optimizers()) + ["masked_adamw_bf16_state", "adagrad"])
def test_pickle_optimizer_object(name):
  opts = dict(_optimizers())
  opts["masked_adamw_bf16_state"] = gradtx.adamw(
      1e-3, weight_decay=0.1, mask={"dense": {"w": True, "b": False}, "scale": False},
      state_dtype=jnp.bfloat16)
  opts["adagrad"] = gradtx.adagrad(1e-2)
  opt = opts[name]
  clone = pickle.loads(pickle.dumps(opt))
  assert clone == opt and hash(clone) == hash(opt)
  assert jax.tree.structure(clone) == jax.tree.structure(opt)
  params, x, y = _problem()
  _assert_identical(_run(_make_step(clone), params, clone.init(params), x, y, 2),
                    _run(_make_step(opt), params, opt.init(params), x, y, 2))
