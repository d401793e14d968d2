"""Sharding checks, run by tests/test_sharding.py in a subprocess with 8 virtual CPU devices.

Run directly: `python tests/_sharding_check.py [check ...]`. Prints one JSON object
on the last line: {check name: "ok" or the failure's traceback}.
"""

from __future__ import annotations

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=8").strip()
os.environ["JAX_PLATFORMS"] = "cpu"

import functools  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P  # noqa: E402

import gradtx  # noqa: E402

STEPS = 3

# Every kind of layout: 2-D over both axes, over one axis, over a merged axis, replicated
# vectors and a replicated scalar.
SHAPES_SPECS = {
    "w1": ((16, 16), P("data", "model")),
    "b1": ((16,), P("model")),
    "w2": ((16, 8), P(("data", "model"), None)),
    "b2": ((8,), P()),
    "gain": ((), P()),
}


def optimizers():
  sched = gradtx.warmup_cosine_decay_schedule(0.0, 1e-2, 2, 10)
  # (optimizer, number of per-parameter state trees it keeps)
  return {
      "adam": (gradtx.adam(1e-2), 2),
      "adamw": (gradtx.adamw(1e-2, weight_decay=1e-2), 2),
      "sgd_momentum": (gradtx.sgd(5e-2, momentum=0.9), 1),
      "adagrad": (gradtx.adagrad(5e-2), 1),
      "rmsprop": (gradtx.rmsprop(1e-2), 1),
      "clip_adamw_schedule": (gradtx.chain(gradtx.clip_by_global_norm(1.0),
                                           gradtx.adamw(sched, weight_decay=1e-2)), 2),
  }


def make_mesh(axis_type=AxisType.Auto):
  return jax.make_mesh((4, 2), ("data", "model"), axis_types=(axis_type, axis_type))


def host_params(seed=0):
  rng = np.random.default_rng(seed)
  return {k: (0.3 * rng.normal(size=shape)).astype(np.float32)
          for k, (shape, _) in SHAPES_SPECS.items()}


def host_batch(seed=1):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(32, 16)).astype(np.float32)
  y = rng.normal(size=(32, 8)).astype(np.float32)
  return x, y


def shard_params(params, mesh):
  return {k: jax.device_put(v, NamedSharding(mesh, SHAPES_SPECS[k][1]))
          for k, v in params.items()}


def loss_fn(params, x, y, gather=False):
  if gather:  # Explicit mesh: shardings are types, so the model gathers what it contracts.
    params = {k: jax.sharding.reshard(v, P()) for k, v in params.items()}
  h = jnp.tanh(x @ params["w1"] + params["b1"])
  out = params["gain"] * (h @ params["w2"]) + params["b2"]
  return jnp.mean((out - y) ** 2)


@functools.lru_cache(maxsize=None)  # optimizers hash by value: one compilation each
def jit_init(opt):
  return jax.jit(opt.init)


@functools.lru_cache(maxsize=None)
def make_step(opt, gather=False):
  @jax.jit
  def step(params, state, x, y):
    grads = jax.grad(loss_fn)(params, x, y, gather)
    updates, state = opt.update(grads, state, params)
    return gradtx.apply_updates(params, updates), state
  return step


def unsharded_run(opt, step, params, x, y):
  """The same steps on one device (all inputs committed to it: one compilation)."""
  dev = jax.devices()[0]
  p, x, y = jax.device_put((params, x, y), dev)
  s = jax.device_put(opt.init(p), dev)
  for _ in range(STEPS):
    p, s = step(p, s, x, y)
  return p, s


# -- assertions -------------------------------------------------------------------------

def same_sharding(a, b):
  return a.sharding.is_equivalent_to(b.sharding, a.ndim)


def per_param_trees(state, params):
  """The subtrees of `state` shaped like `params` (moments, traces, ...), and the rest."""
  ptd = jax.tree.structure(params)

  def is_param_tree(node):
    return not isinstance(node, jax.Array) and jax.tree.structure(node) == ptd

  nodes = jax.tree.leaves(state, is_leaf=is_param_tree)
  trees = [n for n in nodes if is_param_tree(n)]
  others = [n for n in nodes if not is_param_tree(n)]
  return trees, others


def assert_state_follows(state, params, n_trees, where):
  trees, others = per_param_trees(state, params)
  assert len(trees) == n_trees, f"{where}: {len(trees)} per-param trees, expected {n_trees}"
  for tree in trees:
    for key in params:
      s, p = tree[key], params[key]
      assert same_sharding(s, p), (
          f"{where}: state leaf {key!r} has {s.sharding}, param has {p.sharding}")
  for leaf in others:  # counts, schedule values, norms: scalars, replicated
    assert leaf.ndim == 0 and leaf.sharding.is_fully_replicated, (where, leaf.sharding)


def assert_params_keep(new, old, where):
  for key in old:
    assert same_sharding(new[key], old[key]), (
        f"{where}: param {key!r} moved from {old[key].sharding} to {new[key].sharding}")


def assert_trees_close(a, b, where, rtol=1e-5, atol=1e-6):
  la, ta = jax.tree.flatten(a)
  lb, tb = jax.tree.flatten(b)
  assert ta == tb, where
  for x, y in zip(la, lb):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol,
                               err_msg=where)


# -- checks -----------------------------------------------------------------------------

CHECKS = {}


def check(name):
  def register(fn):
    CHECKS[name] = fn
    return fn
  return register


def _optimizer_checks(name, opt, n_trees):

  @check(f"init_eager[{name}]")
  def init_eager():
    mesh = make_mesh()
    params = shard_params(host_params(), mesh)
    assert_state_follows(opt.init(params), params, n_trees, "eager init")

  @check(f"init_jit[{name}]")
  def init_jit():
    mesh = make_mesh()
    params = shard_params(host_params(), mesh)
    assert_state_follows(jit_init(opt)(params), params, n_trees, "jit init")
    # Abstract init (the usual way to plan memory / out_shardings) sees the shapes.
    abstract = jax.eval_shape(opt.init, params)
    assert jax.tree.structure(abstract) == jax.tree.structure(opt.init(params))

  @check(f"step[{name}]")
  def step_keeps_shardings_and_numbers():
    mesh = make_mesh()
    hp, (x, y) = host_params(), host_batch()
    params = shard_params(hp, mesh)
    xs = jax.device_put(x, NamedSharding(mesh, P("data", None)))
    ys = jax.device_put(y, NamedSharding(mesh, P("data", None)))
    state = jit_init(opt)(params)
    step = make_step(opt)
    p, s = params, state
    for i in range(STEPS):
      p, s = step(p, s, xs, ys)
      assert_params_keep(p, params, f"step {i}")
      assert_state_follows(s, params, n_trees, f"step {i}")
    rp, rs = unsharded_run(opt, step, hp, x, y)
    assert_trees_close(p, rp, "params vs unsharded")
    assert_trees_close(s, rs, "state vs unsharded")
    assert not np.allclose(np.asarray(p["w1"]), hp["w1"]), "params did not move"


for _name, (_opt, _n) in optimizers().items():
  _optimizer_checks(_name, _opt, _n)


@check("clip_by_global_norm_across_shards")
def clip_across_shards():
  mesh = make_mesh()
  rng = np.random.default_rng(2)
  grads = {k: (5.0 * rng.normal(size=shape)).astype(np.float32)
           for k, (shape, _) in SHAPES_SPECS.items()}
  norm64 = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads.values()))
  max_norm = 1.0
  assert norm64 > 10 * max_norm
  sharded = shard_params(grads, mesh)
  tx = gradtx.clip_by_global_norm(max_norm)

  def run(g):
    return tx.update(g, tx.init(g))

  for where, fn in [("eager", run), ("jit", jax.jit(run))]:
    clipped, state = fn(sharded)
    np.testing.assert_allclose(float(gradtx.global_norm(sharded)), norm64, rtol=1e-6)
    # The state's first field is the global norm it measured.
    np.testing.assert_allclose(float(state[0]), norm64, rtol=1e-6, err_msg=where)
    for key, g in grads.items():
      assert same_sharding(clipped[key], sharded[key]), (where, key, clipped[key].sharding)
      np.testing.assert_allclose(np.asarray(clipped[key]), g * (max_norm / norm64),
                                 rtol=1e-5, atol=1e-7, err_msg=f"{where} {key}")
    total = np.sqrt(sum(np.sum(np.asarray(c, np.float64) ** 2) for c in clipped.values()))
    np.testing.assert_allclose(total, max_norm, rtol=1e-5)
    # Identical to the unsharded computation.
    ref, _ = fn(jax.device_put(grads, jax.devices()[0]))
    assert_trees_close(clipped, ref, f"{where} vs unsharded", rtol=1e-6, atol=1e-8)


@check("orbax_restore_keeps_shardings")
def orbax_restore_keeps_shardings():
  import shutil
  import tempfile

  import orbax.checkpoint as ocp

  mesh = make_mesh()
  opt, n_trees = optimizers()["clip_adamw_schedule"]
  hp, (x, y) = host_params(), host_batch()
  params = shard_params(hp, mesh)
  xs = jax.device_put(x, NamedSharding(mesh, P("data", None)))
  ys = jax.device_put(y, NamedSharding(mesh, P("data", None)))
  step = make_step(opt)
  p, s = step(params, jit_init(opt)(params), xs, ys)
  tmp = tempfile.mkdtemp()
  try:
    ckpt = ocp.StandardCheckpointer()
    ckpt.save(os.path.join(tmp, "ckpt"), {"params": p, "opt_state": s})
    ckpt.wait_until_finished()
    target = {"params": params, "opt_state": jit_init(opt)(params)}
    restored = ckpt.restore(os.path.join(tmp, "ckpt"), target)
    ckpt.close()
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  assert jax.tree.structure(restored) == jax.tree.structure(target)
  assert_params_keep(restored["params"], params, "restored")
  assert_state_follows(restored["opt_state"], params, n_trees, "restored")
  for a, b in zip(jax.tree.leaves({"params": p, "opt_state": s}), jax.tree.leaves(restored)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  # Resuming from the restored, sharded state is identical to not stopping.
  straight = step(p, s, xs, ys)
  resumed = step(restored["params"], restored["opt_state"], xs, ys)
  for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@check("explicit_mesh[adamw]")
def explicit_mesh():
  # `jax.make_mesh` defaults to Explicit axes in recent JAX: shardings are part of types.
  mesh = make_mesh(AxisType.Explicit)
  opt = gradtx.adamw(1e-2, weight_decay=1e-2)
  hp, (x, y) = host_params(), host_batch()
  params = shard_params(hp, mesh)
  assert_state_follows(opt.init(params), params, 2, "explicit eager init")
  with jax.set_mesh(mesh):
    xs = jax.device_put(x, P("data", None))
    ys = jax.device_put(y, P("data", None))
    state = jit_init(opt)(params)
    assert_state_follows(state, params, 2, "explicit jit init")
    step = make_step(opt, gather=True)
    p, s = params, state
    for i in range(STEPS):
      p, s = step(p, s, xs, ys)
      assert_params_keep(p, params, f"explicit step {i}")
      assert_state_follows(s, params, 2, f"explicit step {i}")
  rp, _ = unsharded_run(opt, make_step(opt), hp, x, y)
  assert_trees_close(p, rp, "explicit params vs unsharded")


def main(names):
  assert jax.device_count() == 8, jax.devices()
  results = {}
  for name in names or list(CHECKS):
    start = time.perf_counter()
    try:
      CHECKS[name]()
      results[name] = "ok"
    except Exception:  # noqa: BLE001 -- reported to the parent test
      results[name] = traceback.format_exc()
    print(f"{name}: {time.perf_counter() - start:.2f}s", file=sys.stderr)
  print(json.dumps(results))


if __name__ == "__main__":
  main(sys.argv[1:])
