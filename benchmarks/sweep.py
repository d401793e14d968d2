"""Hyperparameter sweeps: compiles of a rebuilt-optimizer sweep, and vmap against a loop.

(a) A 10-value learning-rate sweep done the everyday way: for each value,
    rebuild the optimizer and train with a jitted step function. With gradtx
    the optimizer is a pytree *argument* of the step, so its learning rate is
    traced and the step compiles once. With Optax the optimizer is a pair of
    closures, which jit cannot take as a traced argument: the step either
    closes over it (a new function per value) or takes it as a static argument
    (hashed by identity): one compile per value. Compiles are counted with a
    Python side effect inside the step (it runs once per trace); wall time is
    the whole sweep, compiles included.
(b) The speed-up of `jax.jit(jax.vmap(train))` over a Python loop of a jitted
    `train` for the 32-learning-rate sweep of examples/lr_sweep.py (both after
    compilation), on the same machine.

    python -m benchmarks.sweep [--values 10] [--steps 50] [--n 32] [--epochs 15]

Prints Markdown.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import gradtx

_ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load_example():
  """examples/lr_sweep.py as a module (examples/ is not a package)."""
  spec = importlib.util.spec_from_file_location("lr_sweep", _ROOT / "examples" / "lr_sweep.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _header() -> list[str]:
  cpu = platform.processor() or "?"
  try:
    with open("/proc/cpuinfo") as f:
      cpu = next((l.split(":", 1)[1].strip() for l in f if l.lower().startswith("model name")),
                 cpu)
  except OSError:
    pass
  try:
    cores = len(os.sched_getaffinity(0))
  except AttributeError:
    cores = os.cpu_count()
  dev = jax.devices()[0]
  return [f"- machine: {cpu}, {cores} cores usable; jax {jax.__version__} on "
          f"{jax.default_backend()} ({dev.device_kind}); optax {optax.__version__}; "
          f"gradtx {gradtx.__version__}"]


# --- (a) compile counts ------------------------------------------------------------

def _batches(ex, steps: int, batch_size: int = 64):
  data = ex.load_data(0)
  idx = np.asarray(ex.batch_indices(int(data[0].shape[0]), 1 + steps * batch_size // 1437,
                                    batch_size))[:steps]
  x, y = np.asarray(data[0]), np.asarray(data[1])
  return [(jnp.asarray(x[i]), jnp.asarray(y[i])) for i in idx]


def _train_loop(step, make_params, tx, batches, apply_step):
  params = make_params()
  state = tx.init(params)
  for xb, yb in batches:
    params, state = apply_step(step, tx, params, state, xb, yb)
  return jax.block_until_ready(params)


def sweep_gradtx(ex, lrs, batches):
  traces = []

  @jax.jit
  def step(tx, params, state, x, y):
    traces.append(None)  # once per trace
    grads = jax.grad(ex.loss_fn)(params, x, y)
    updates, state = tx.update(grads, state, params)
    return gradtx.apply_updates(params, updates), state

  make_params = lambda: ex.init_mlp(jax.random.PRNGKey(0))
  t = time.perf_counter()
  finals = [_train_loop(step, make_params, gradtx.adam(float(lr)), batches,
                        lambda f, tx, p, s, x, y: f(tx, p, s, x, y)) for lr in lrs]
  return len(traces), time.perf_counter() - t, finals


def sweep_optax_closure(ex, lrs, batches):
  traces = []
  make_params = lambda: ex.init_mlp(jax.random.PRNGKey(0))

  def make_step(tx):
    @jax.jit
    def step(params, state, x, y):
      traces.append(None)
      grads = jax.grad(ex.loss_fn)(params, x, y)
      updates, state = tx.update(grads, state, params)
      return optax.apply_updates(params, updates), state
    return step

  t = time.perf_counter()
  finals = []
  for lr in lrs:
    tx = optax.adam(float(lr))
    finals.append(_train_loop(make_step(tx), make_params, tx, batches,
                              lambda f, tx, p, s, x, y: f(p, s, x, y)))
  return len(traces), time.perf_counter() - t, finals


def sweep_optax_static(ex, lrs, batches):
  traces = []
  make_params = lambda: ex.init_mlp(jax.random.PRNGKey(0))

  def step(tx, params, state, x, y):
    traces.append(None)
    grads = jax.grad(ex.loss_fn)(params, x, y)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  step = jax.jit(step, static_argnums=0)
  t = time.perf_counter()
  finals = [_train_loop(step, make_params, optax.adam(float(lr)), batches,
                        lambda f, tx, p, s, x, y: f(tx, p, s, x, y)) for lr in lrs]
  return len(traces), time.perf_counter() - t, finals


def _diffs(a, b):
  """Per run: max |a - b| over the final params."""
  return [max(float(jnp.max(jnp.abs(x - y))) for x, y in
              zip(jax.tree.leaves(fa), jax.tree.leaves(fb))) for fa, fb in zip(a, b)]


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--values", type=int, default=10, help="learning rates in (a)")
  parser.add_argument("--steps", type=int, default=50, help="training steps per value in (a)")
  parser.add_argument("--n", type=int, default=32, help="learning rates in (b)")
  parser.add_argument("--epochs", type=int, default=15, help="epochs per run in (b)")
  parser.add_argument("--loop-runs", type=int, default=0, help="(b): time only this many "
                      "loop runs and extrapolate (0: all)")
  parser.add_argument("--repeats", type=int, default=3, help="(b): timing passes, min kept")
  args = parser.parse_args()

  ex = _load_example()
  lrs = np.logspace(-4, -1, args.values)
  batches = _batches(ex, args.steps)
  print("## Hyperparameter sweeps\n")
  for line in _header():
    print(line)
  print()

  # Warm up what all three share (data transfer, eager init ops), untimed.
  jax.block_until_ready(ex.init_mlp(jax.random.PRNGKey(0)))
  rows = [("gradtx: `step(tx, params, ...)` jitted, `tx = gradtx.adam(lr)` rebuilt per value",
           sweep_gradtx(ex, lrs, batches)),
          ("Optax: jitted step closing over `tx = optax.adam(lr)` (a new step per value)",
           sweep_optax_closure(ex, lrs, batches)),
          ("Optax: `tx` as a static jit argument (`static_argnums=0`)",
           sweep_optax_static(ex, lrs, batches))]
  print(f"### (a) {args.values}-value learning-rate sweep, rebuilding the optimizer per value "
        f"(digits MLP, {args.steps} jitted steps per value)\n")
  print("| sweep | compiles (trace counter) | total wall time (s) |")
  print("|---|---:|---:|")
  for name, (compiles, seconds, _) in rows:
    print(f"| {name} | {compiles} | {seconds:.2f} |")
  diffs = _diffs(rows[0][1][2], rows[1][1][2])
  print(f"\n- same trajectories: {sum(d <= 1e-5 for d in diffs)} of {len(diffs)} runs agree "
        f"with Optax to 1e-5 in every final parameter (float32; max difference "
        f"{max(diffs):.1e}: Adam turns 1-ulp differences of near-zero gradients into "
        f"learning-rate-sized steps)")
  print(f"- wall-time ratio Optax (closures) / gradtx: {rows[1][1][1] / rows[0][1][1]:.1f}x\n")

  # (b) vmap against a Python loop, the example's learning-rate sweep.
  data, idx = ex.setup(args.epochs, 64)
  train = ex.make_train(data, idx, ex.lr_optimizer(int(idx.shape[0])))
  tm = ex.time_sweep(train, np.logspace(-4, 0, args.n), args.loop_runs or None, args.repeats,
                     progress=False)
  print(f"### (b) examples/lr_sweep.py: {args.n} learning rates, {args.epochs} epochs "
        f"({int(idx.shape[0])} steps) each\n")
  print("| sweep | time after compile (s) | per run (ms) |")
  print("|---|---:|---:|")
  print(f"| one `jax.jit(jax.vmap(train))` call | {tm['vmap_run_s']:.3f} | "
        f"{tm['vmap_run_s'] / tm['n'] * 1e3:.1f} |")
  loop_note = (f"{tm['loop_runs_timed']} runs timed, extrapolated to {tm['n']}"
               if tm["extrapolated"] else f"all {tm['n']} runs timed")
  print(f"| Python loop of a jitted `train` ({loop_note}) | {tm['loop_total_s']:.3f} | "
        f"{tm['loop_per_run_s'] * 1e3:.1f} |")
  print(f"\n- speed-up of vmap over the loop: **{tm['speedup']:.1f}x** "
        f"(best of {tm['repeats']} interleaved passes each; compiles excluded: vmap "
        f"{tm['vmap_first_s']:.1f} s first call, loop {tm['loop_compile_s']:.1f} s)")
  close = int(np.sum(tm["diffs"] <= 1e-4))
  print(f"- results: {close} of {len(tm['diffs'])} loop runs match their vmap lane to 1e-4 "
        f"in final test loss (the rest are chaotic high learning rates, where float32 "
        f"rounding differences grow)")


if __name__ == "__main__":
  main()
