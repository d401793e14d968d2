"""Shampoo and SOAP on a transformer-shaped tree, against gradtx's and Optax's AdamW.

The tree (from `benchmarks/muon.py`) has 48 leaves: 8 blocks of 128x128, 128x512 and
512x128 matrices with a 1-D norm scale and two biases. Measured in one process: compile time
of the jitted step (`update` + `apply_updates`, lower + compile) and the amortized step time
(median over `--repeats` timings of `--steps` consecutive steps, `--steps` a multiple of
`precondition_frequency=10`, so each timing holds the same share of the steps that
recompute roots / eigenbases). Optax 0.2.8 has no Shampoo or SOAP, so AdamW is the peer.

Run: `python -m benchmarks.matrix_precond [--repeats 5] [--steps 20]`; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import optax

import gradtx
from benchmarks.muon import make_tree

ROWS = {
    "optax.adamw(1e-3)": lambda: optax.adamw(1e-3),
    "gradtx.adamw(1e-3)": lambda: gradtx.adamw(1e-3),
    "gradtx.shampoo(1e-3) eigh, f=10": lambda: gradtx.shampoo(1e-3, precondition_frequency=10),
    "gradtx.shampoo(1e-3) newton, f=10":
        lambda: gradtx.shampoo(1e-3, precondition_frequency=10, root_method="newton"),
    "gradtx.shampoo(1e-3, block_size=128) eigh, f=10":
        lambda: gradtx.shampoo(1e-3, precondition_frequency=10, block_size=128),
    "gradtx.shampoo(1e-3) eigh, f=100": lambda: gradtx.shampoo(1e-3, precondition_frequency=100),
    "gradtx.soap() f=10": lambda: gradtx.soap(),
}


def bench(opt, params, grads, steps: int, repeats: int) -> tuple[float, float]:
  """(compile seconds, seconds per step). The gradients are an argument of the jitted step
  (closed over, XLA would constant-fold the statistics `G G^T` at compile time)."""
  def step(p, s, g):
    u, s = opt.update(g, s, p)
    return optax.apply_updates(p, u), s
  state = opt.init(params)
  t = time.perf_counter()
  compiled = jax.jit(step).lower(params, state, grads).compile()
  compile_s = time.perf_counter() - t
  p, s = compiled(params, state, grads)
  jax.block_until_ready(p)
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    for _ in range(steps):
      p, s = compiled(p, s, grads)
    jax.block_until_ready(p)
    times.append((time.perf_counter() - t) / steps)
  return compile_s, statistics.median(times)


def main(argv: list[str] | None = None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--repeats", type=int, default=5)
  ap.add_argument("--steps", type=int, default=20)
  ap.add_argument("--only", default="", help="comma-separated substrings of row names")
  args = ap.parse_args(argv)
  params, grads = make_tree(0), make_tree(1)
  print(f"jax {jax.__version__}, {jax.devices()[0].device_kind}, "
        f"{len(jax.tree.leaves(params))} leaves, steps per timing {args.steps}")
  print("| optimizer | compile (s) | step (ms) | step / optax.adamw |")
  print("|---|---|---|---|", flush=True)
  base = None  # optax.adamw's step, the first row
  for name, make in ROWS.items():
    if args.only and not any(s in name for s in args.only.split(",")) and "optax" not in name:
      continue
    steps = args.steps * (10 if "f=100" in name else 1)
    compile_s, step_s = bench(make(), params, grads, steps, args.repeats)
    base = base or step_s
    print(f"| {name} | {compile_s:.2f} | {step_s * 1e3:.2f} | {step_s / base:.2f} |", flush=True)


if __name__ == "__main__":
  main()
