"""GaLore between projector refreshes: gradtx vs `optax.contrib.galore`, A/B in one process.

The harness (`python -m benchmarks.bench --optimizers galore`) times a few rounds per
contender; this loop interleaves many short rounds of the two donated, jitted steps on one
tree (default: 1000 leaves of 64x64, `galore(1e-3, rank=16, update_proj_gap=10**6)`: only
the first, untimed step computes the SVDs) and prints the min and median per step and their ratios.

Run: `python -m benchmarks.galore_ab [--leaves 1000] [--rounds 60] [--steps 5]
[--canonical-signs]`.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import optax

import gradtx


def make_step(lib, **kw):
  tx = lib.contrib.galore(1e-3, rank=16, update_proj_gap=10**6, **kw)

  def step(g, s, p):
    u, s = tx.update(g, s, p)
    return s, lib.apply_updates(p, u)

  return tx, jax.jit(step, donate_argnums=(1, 2))


def main(argv: list[str] | None = None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--leaves", type=int, default=1000)
  ap.add_argument("--rounds", type=int, default=60)
  ap.add_argument("--steps", type=int, default=5, help="steps per timed round")
  ap.add_argument("--canonical-signs", action="store_true", help="gradtx's opt-in sign fix")
  args = ap.parse_args(argv)

  key = jax.random.PRNGKey(0)
  params = {f"w{i}": jax.random.normal(jax.random.fold_in(key, i), (64, 64))
            for i in range(args.leaves)}
  grads = jax.tree.map(lambda p: 0.01 * p, params)
  runs = {}
  for name, lib, kw in (("optax", optax, {}),
                        ("gradtx", gradtx, {"canonical_signs": args.canonical_signs})):
    tx, step = make_step(lib, **kw)
    p = jax.tree.map(lambda x: x + 0, params)
    s = tx.init(p)
    t0 = time.perf_counter()
    for _ in range(3):  # count 0 refreshes (and compiles); 1, 2 do not
      s, p = step(grads, s, p)
    jax.block_until_ready(p)
    print(f"{name}: compile + 3 steps {time.perf_counter() - t0:.1f} s", flush=True)
    runs[name] = [step, s, p, []]
  for _ in range(args.rounds):
    for run in runs.values():
      step, s, p, times = run
      t0 = time.perf_counter()
      for _ in range(args.steps):
        s, p = step(grads, s, p)
      jax.block_until_ready(p)
      times.append((time.perf_counter() - t0) / args.steps)
      run[1], run[2] = s, p
  mins = {k: min(v[3]) for k, v in runs.items()}
  meds = {k: statistics.median(v[3]) for k, v in runs.items()}
  for k in runs:
    print(f"{k}: min {1e3 * mins[k]:.2f} ms, median {1e3 * meds[k]:.2f} ms per step")
  print(f"gradtx/optax: min {mins['gradtx'] / mins['optax']:.3f}, "
        f"median {meds['gradtx'] / meds['optax']:.3f}")


if __name__ == "__main__":
  main()
