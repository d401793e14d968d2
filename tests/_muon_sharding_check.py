"""Muon on params sharded over 8 virtual CPU devices equals the unsharded run; run by
tests/test_contrib_muon.py in a subprocess. Prints one JSON object on the last line:
{check name: "ok" or the failure's traceback}."""

from __future__ import annotations

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=8").strip()
os.environ["JAX_PLATFORMS"] = "cpu"

import json  # noqa: E402
import traceback  # noqa: E402

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P  # noqa: E402

import gradtx  # noqa: E402
from gradtx.contrib import MuonDimensionNumbers, muon  # noqa: E402

STEPS = 3
SPECS = {
    "w1": ((16, 16), P("data", "model")),
    "w2": ((16, 16), P(None, "model")),      # same shape as w1: batched together
    "w3": ((16, 8), P(("data", "model"), None)),
    "conv": ((3, 3, 4, 8), P(None, None, None, "model")),
    "b": ((16,), P("model")),
}
DIMS = {"w1": MuonDimensionNumbers(), "w2": MuonDimensionNumbers(),
        "w3": MuonDimensionNumbers(), "conv": MuonDimensionNumbers((0, 1, 2), 3), "b": None}


def loss(p, x):
  h = jnp.tanh(x @ p["w1"] + p["b"]) @ p["w2"]
  return jnp.mean((h @ p["w3"]) ** 2) + jnp.mean(p["conv"] ** 4)


def run(params, x, opt):
  step = jax.jit(lambda p, s: (lambda u, s: (gradtx.apply_updates(p, u), s))(
      *opt.update(jax.grad(loss)(p, x), s, p)))
  state = jax.jit(opt.init)(params)
  for _ in range(STEPS):
    params, state = step(params, state)
  return params, state


def check_equal_to_unsharded(batch):
  rng = np.random.default_rng(0)
  host = {k: rng.normal(size=s) for k, (s, _) in SPECS.items()}
  x = rng.normal(size=(8, 16))
  opt = muon(0.02, weight_decay=0.01, muon_weight_dimension_numbers=DIMS,
             batch_same_shape=batch)
  mesh = jax.make_mesh((4, 2), ("data", "model"), axis_types=(AxisType.Auto, AxisType.Auto))
  sharded = {k: jax.device_put(v, NamedSharding(mesh, SPECS[k][1])) for k, v in host.items()}
  dev = jax.devices()[0]
  p1, s1 = run(sharded, jax.device_put(x, NamedSharding(mesh, P())), opt)
  p0, _ = run(jax.device_put(host, dev), jax.device_put(x, dev), opt)
  for k in host:
    np.testing.assert_allclose(np.asarray(p1[k]), np.asarray(p0[k]), rtol=1e-12, atol=1e-14,
                               err_msg=k)
  from gradtx.contrib import MuonState
  mu = next(s for s in jax.tree.leaves(s1, is_leaf=lambda s: isinstance(s, MuonState))
            if isinstance(s, MuonState)).mu
  assert len(mu["w1"].sharding.device_set) == 8  # the momentum stays distributed


CHECKS = {"sharded_equals_unsharded[batched]": lambda: check_equal_to_unsharded(True),
          "sharded_equals_unsharded[per_leaf]": lambda: check_equal_to_unsharded(False)}


def main():
  results = {}
  for name, fn in CHECKS.items():
    try:
      fn()
      results[name] = "ok"
    except Exception:  # pylint: disable=broad-except
      results[name] = traceback.format_exc()
  print(json.dumps(results))


if __name__ == "__main__":
  main()
