"""Low-precision modes side by side: bytes per parameter, step time, and accuracy.

    PYTHONPATH=. python benchmarks/lowp_modes.py [--markdown]

One table, one row per mode (Adam, lr 1e-3 on the MLP regression and digits,
1e-2 on the quadratic): float32 params and state; bfloat16 params with nearest
rounding (no compensation), Kahan compensation, stochastic rounding (the named
optimizers' default for bfloat16 params), a float32 master copy; bfloat16 state;
8-bit block-wise state (int8 dynamic map; float8 E4M3 codes). Columns: bytes per parameter (params + optimizer state),
step time of `update + apply_updates` on 4 x 1024x1024 params relative to float32
(jitted, donated, median of interleaved rounds), final loss after 300 full-batch
steps of the MLP regression (`benchmarks/lowp.py`'s teacher-student problem, n=4096,
d=32, 128 hidden units, so its matrices are quantized), digits test
accuracy (`examples/_digits.py`'s MLP 64-128-128-10, mean of 3 seeds), and the quadratic's final
distance to the float32 solution in units of bfloat16's rounding floor.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import gradtx
from benchmarks import lowp, report

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
import _digits  # noqa: E402  pylint: disable=wrong-import-position

HEADERS = ["mode", "bytes/param", "step time / f32", "MLP final loss", "MLP loss / f32",
           "digits test acc %", "quadratic err / bf16 floor"]


def _adam(lr, method=None, state_dtype=None):
  """Adam; `method` None: the named optimizer (stochastic rounding for bfloat16 params),
  "nearest": no final stage, else `compensated_updates(method)` as the final stage."""
  if method is None:
    return gradtx.adam(lr, state_dtype=state_dtype)
  stages = [gradtx.scale_by_adam(state_dtype=state_dtype), gradtx.scale_by_learning_rate(lr)]
  if method != "nearest":
    stages.append(gradtx.compensated_updates(method))
  return gradtx.chain(*stages)


# name -> (param dtype, method, state dtype)
MODES = {
    "f32 params, f32 state": (jnp.float32, None, None),
    "bf16 params, nearest rounding": (jnp.bfloat16, "nearest", None),
    "bf16 params + Kahan compensation": (jnp.bfloat16, "kahan", None),
    "bf16 params + stochastic rounding (default)": (jnp.bfloat16, None, None),
    "bf16 params + f32 master copy": (jnp.bfloat16, "master", None),
    "f32 params, bf16 state": (jnp.float32, None, jnp.bfloat16),
    "f32 params, 8-bit state": (jnp.float32, None, jnp.int8),
    "f32 params, float8 (E4M3) state": (jnp.float32, None, jnp.float8_e4m3fn),
}


def nbytes(tree) -> int:
  return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(tree))


def cast(tree, dtype):
  return jax.tree.map(lambda x: jnp.asarray(x, dtype), tree)


def mlp_problem():
  return lowp._mlp_problem(n=4096, d=32, hidden=128)  # pylint: disable=protected-access


TIMING_TREE = {f"w{i}": (1024, 1024) for i in range(4)}  # 4M params: bandwidth-bound steps


def step_timers(modes: dict) -> dict:
  """Per mode, a function running one jitted, donated `update + apply_updates` step on
  `TIMING_TREE` (in the mode's param dtype) and returning its seconds."""
  timers = {}
  for name, (dtype, method, state_dtype) in modes.items():
    tx = _adam(1e-3, method, state_dtype)
    params = {k: jnp.full(s, 0.5, dtype) for k, s in TIMING_TREE.items()}
    grads = jax.tree.map(lambda p: p * 1e-3, params)

    def step(p, s, g, tx=tx):
      u, s = tx.update(g, s, p)
      return gradtx.apply_updates(p, u), s
    fn = jax.jit(step, donate_argnums=(0, 1))
    carry = list(jax.block_until_ready(fn(params, tx.init(params), grads)))

    def timer(fn=fn, carry=carry, grads=grads):
      t = time.perf_counter()
      carry[:] = jax.block_until_ready(fn(carry[0], carry[1], grads))
      return time.perf_counter() - t
    timers[name] = timer
  return timers


def step_times(modes: dict, repeats: int = 15) -> dict:
  """Median step seconds per mode, the modes' steps interleaved round by round."""
  timers = step_timers(modes)
  times = {name: [] for name in modes}
  for _ in range(repeats):
    for name, timer in timers.items():
      times[name].append(timer())
  return {name: float(np.median(ts)) for name, ts in times.items()}


def digits_accuracy(tx, dtype, epochs: int = 20, seed: int = 0) -> float:
  x_tr, x_te, y_tr, y_te = _digits.load_data(seed)
  params = cast(_digits.init_mlp(jax.random.PRNGKey(seed), [64, 128, 128, 10]), dtype)
  state = tx.init(params)

  @jax.jit
  def step(p, s, xb, yb):
    g = jax.grad(_digits.loss_fn)(p, xb, yb)
    u, s = tx.update(g, s, p)
    return gradtx.apply_updates(p, u), s
  rng = np.random.default_rng(seed)
  for _ in range(epochs):
    for xb, yb in _digits.batches(x_tr, y_tr, 64, rng):
      params, state = step(params, state, xb, yb)
  pred = np.argmax(np.asarray(_digits.mlp(params, x_te), np.float32), axis=1)
  return 100.0 * float(np.mean(pred == y_te))


def quadratic(tx, dtype, steps: int = 3000, n: int = 512, seed: int = 0):
  """Final params of `mean((w - target)^2)` from zeros, in float64."""
  target = np.random.default_rng(seed).standard_normal(n).astype(np.float32)

  def loss(p):
    return jnp.mean(jnp.square(p.astype(jnp.float32) - target))

  def body(carry, _):
    p, s = carry
    u, s = tx.update(jax.grad(loss)(p), s, p)
    return (gradtx.apply_updates(p, u), s), None
  p0 = jnp.zeros(n, dtype)
  (p, _), _ = jax.jit(lambda c: jax.lax.scan(body, c, None, length=steps))((p0, tx.init(p0)))
  return np.asarray(p, np.float64)


def quadratic_error(p, p32, dtype=jnp.bfloat16) -> float:
  """`mean((p - p32)^2)` over the floor `mean((round(p32) - p32)^2)` of `dtype`."""
  floor = np.mean((np.asarray(jnp.asarray(p32, dtype), np.float64) - p32) ** 2)
  return float(np.mean((p - p32) ** 2) / floor)


def rows(mlp_steps: int = 300) -> list[list]:
  params, loss, lr = mlp_problem()
  n_params = sum(np.size(x) for x in jax.tree.leaves(params))
  q32 = quadratic(_adam(1e-2), jnp.float32)
  times = step_times(MODES)
  out, base_time, base_loss = [], None, None
  for name, (dtype, method, state_dtype) in MODES.items():
    tx = _adam(lr, method, state_dtype)
    p = cast(params, dtype)
    byts = (nbytes(p) + nbytes(tx.init(p))) / n_params
    t = times[name]
    final = float(lowp.train(tx, gradtx.apply_updates, p, loss, mlp_steps)[-1])
    acc = np.mean([digits_accuracy(tx, dtype, seed=s) for s in range(3)])
    qerr = quadratic_error(quadratic(_adam(1e-2, method, state_dtype), dtype), q32)
    base_time, base_loss = base_time or t, base_loss or final
    out.append([name, round(byts, 2), round(t / base_time, 2), f"{final:.4g}",
                round(final / base_loss, 3), round(acc, 2), round(qerr, 2)])
  return out


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--markdown", action="store_true")
  parser.add_argument("--mlp-steps", type=int, default=300)
  args = parser.parse_args(argv)
  print(report.table(HEADERS, rows(args.mlp_steps), args.markdown))


if __name__ == "__main__":
  main()
