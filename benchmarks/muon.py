"""Muon on a transformer-shaped tree: gradtx vs `optax.contrib.muon` vs `torch.optim.Muon`.

The tree has 48 leaves: 8 blocks of three matrices (128x128 attention, 128x512 MLP up,
512x128 MLP down) with a 1-D norm scale and two biases. Measured in one process:

* compile time of the jitted step (`update` + `apply_updates`, lower + compile);
* step time (median of `--repeats` timings of `--steps` steps each);
* the matmul FLOP floor: Newton-Schulz FLOPs of one step divided by this machine's
  measured float32 matmul rate (one large matmul), and the step's ratio to it;
* gradtx with `batch_same_shape=False` (one Newton-Schulz chain per leaf), to show
  whether batching same-shape leaves pays, and with `ns_dtype=jnp.bfloat16` (the
  iterations in bfloat16, as torch's);
* `torch.optim.Muon` on the 24 matrices (its Newton-Schulz in bfloat16, as shipped) plus
  `torch.optim.AdamW` on the 24 vectors, CPU;
* with `--others`, the step time of schedule-free AdamW, Prodigy, D-Adaptation AdamW and
  SAM against Optax's on the same tree (no buffer donation: Optax's Prodigy and SAM states
  hold the params themselves, which donation refuses).

Run: `python -m benchmarks.muon [--repeats 5] [--steps 20]`; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch

import gradtx

D, HIDDEN, BLOCKS, NS_STEPS = 128, 512, 8, 5


def tree_shapes() -> dict:
  def block():
    return {"attn": (D, D), "mlp_up": (D, HIDDEN), "mlp_down": (HIDDEN, D), "norm": (D,),
            "b_up": (HIDDEN,), "b_down": (D,)}
  return {f"block_{i}": block() for i in range(BLOCKS)}


def make_tree(seed: int) -> dict:
  rng = np.random.default_rng(seed)
  return jax.tree.map(lambda s: jnp.asarray(rng.normal(size=s), jnp.float32) * 0.02,
                      tree_shapes(), is_leaf=lambda x: isinstance(x, tuple))


def ns_flops() -> float:
  """FLOPs of the Newton-Schulz iterations of one step (2 m n k per m x k @ k x n)."""
  total = 0.0
  for shape in jax.tree.leaves(tree_shapes(), is_leaf=lambda x: isinstance(x, tuple)):
    if len(shape) != 2:
      continue
    m, n = sorted(shape)  # the iteration runs on the wide orientation, m <= n
    total += NS_STEPS * (2 * m * m * n + 2 * m * m * m + 2 * m * m * n)
  return total


def matmul_rate(size: int = 1024, repeats: int = 5) -> float:
  """float32 FLOP/s of one large jitted matmul on this machine."""
  a = jnp.ones((size, size), jnp.float32)
  f = jax.jit(lambda x: x @ x)
  f(a).block_until_ready()
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    f(a).block_until_ready()
    times.append(time.perf_counter() - t)
  return 2 * size ** 3 / min(times)


def compile_step(opt, params, grads) -> tuple:
  """(compiled step, initial state, lower + compile seconds) with a fresh step function (no
  tracing-cache hit)."""
  def step(p, s):
    u, s = opt.update(grads, s, p)
    return optax.apply_updates(p, u), s
  state = opt.init(params)
  t = time.perf_counter()
  compiled = jax.jit(step).lower(params, state).compile()
  return compiled, state, time.perf_counter() - t


def bench_jax(opt, params, grads, steps: int, repeats: int) -> tuple[float, float]:
  """(compile seconds, seconds per step: the median of `repeats`)."""
  compiled, state, compile_s = compile_step(opt, params, grads)
  p, s = compiled(params, state)
  jax.block_until_ready(p)
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    for _ in range(steps):
      p, s = compiled(p, s)
    jax.block_until_ready(p)
    times.append((time.perf_counter() - t) / steps)
  return compile_s, statistics.median(times)


def bench_torch(params, grads, steps: int, repeats: int) -> float:
  """Seconds per step of torch.optim.Muon (matrices) + AdamW (vectors), CPU float32."""
  tp = [torch.nn.Parameter(torch.tensor(np.asarray(p).T.copy())) for p in jax.tree.leaves(params)]
  for p, g in zip(tp, jax.tree.leaves(grads)):
    p.grad = torch.tensor(np.asarray(g).T.copy())
  mats = [p for p in tp if p.ndim == 2]
  vecs = [p for p in tp if p.ndim != 2]
  muon_opt = torch.optim.Muon(mats, lr=1e-3, weight_decay=0.0)
  adam_opt = torch.optim.AdamW(vecs, lr=1e-3, weight_decay=0.0)
  muon_opt.step()
  adam_opt.step()
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    for _ in range(steps):
      muon_opt.step()
      adam_opt.step()
    times.append((time.perf_counter() - t) / steps)
  return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--repeats", type=int, default=5)
  ap.add_argument("--steps", type=int, default=20)
  ap.add_argument("--compile-repeats", type=int, default=3,
                  help="compiles per optimizer, in rounds over the rows (the fastest is kept)")
  ap.add_argument("--others", action="store_true", help="also schedule-free, Prodigy, ...")
  ap.add_argument("--skip-muon", action="store_true")
  args = ap.parse_args(argv)
  if not args.skip_muon:
    muon_table(args)
  if args.others:
    others_table(args)


def _sam(lib):
  return lib.contrib.sam(lib.sgd(1e-3), lib.chain(lib.contrib.normalize(), lib.sgd(0.05)))


OTHERS = {
    "schedule_free_adamw(1e-3)": lambda lib: lib.contrib.schedule_free_adamw(1e-3),
    "schedule_free_adamw(1e-3, warmup_steps=100)":
        lambda lib: lib.contrib.schedule_free_adamw(1e-3, warmup_steps=100),
    "prodigy()": lambda lib: lib.contrib.prodigy(),
    "dadapt_adamw()": lambda lib: lib.contrib.dadapt_adamw(),
    "sam(sgd, chain(normalize(), sgd))": _sam,
}


def others_table(args) -> None:
  params, grads = make_tree(0), make_tree(1)
  print("\n| optimizer (same tree) | gradtx step (ms) | Optax step (ms) | gradtx / Optax |")
  print("|---|---|---|---|")
  for name, build in OTHERS.items():
    ours, theirs = [], []
    for _ in range(2):  # interleaved, the median of each
      ours.append(bench_jax(build(gradtx), params, grads, args.steps, args.repeats)[1])
      theirs.append(bench_jax(build(optax), params, grads, args.steps, args.repeats)[1])
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"| `{name}` | {a * 1e3:.2f} | {b * 1e3:.2f} | {a / b:.2f}x |")


def muon_table(args) -> None:
  params, grads = make_tree(0), make_tree(1)
  n_leaves = len(jax.tree.leaves(params))
  floor = ns_flops() / matmul_rate()
  rows = [
      ("gradtx.contrib.muon", gradtx.contrib.muon(1e-3)),
      ("gradtx.contrib.muon(batch_same_shape=False)",
       gradtx.contrib.muon(1e-3, batch_same_shape=False)),
      ("gradtx.contrib.muon(ns_dtype=jnp.bfloat16)",
       gradtx.contrib.muon(1e-3, ns_dtype=jnp.bfloat16)),
      ("optax.contrib.muon", optax.contrib.muon(1e-3)),
  ]
  # Compiles run in rounds over the rows (the first compile in a process also pays one-time
  # costs, which would otherwise land on whichever row comes first); the fastest is kept.
  compile_s = {name: float("inf") for name, _ in rows}
  for _ in range(max(1, args.compile_repeats)):
    for name, opt in rows:
      compile_s[name] = min(compile_s[name], compile_step(opt, params, grads)[2])
  results = {name: (compile_s[name], bench_jax(opt, params, grads, args.steps, args.repeats)[1])
             for name, opt in rows}
  torch_step = bench_torch(params, grads, args.steps, args.repeats)
  ref_compile, ref_step = results["optax.contrib.muon"]
  print(f"Muon, {n_leaves} leaves ({BLOCKS} blocks of {D}x{D}, {D}x{HIDDEN}, {HIDDEN}x{D} "
        f"and three vectors); Newton-Schulz {ns_flops() / 1e9:.2f} GFLOP per step, matmul "
        f"floor {floor * 1e3:.2f} ms on this machine; {args.repeats} x {args.steps} steps.\n")
  print("| optimizer | compile (s) | vs Optax | step (ms) | vs Optax | vs floor |")
  print("|---|---|---|---|---|---|")
  for name, (c, s) in results.items():
    print(f"| `{name}` | {c:.2f} | {c / ref_compile:.2f}x | {s * 1e3:.2f} | "
          f"{s / ref_step:.2f}x | {s / floor:.2f}x |")
  print(f"| `torch.optim.Muon` + `AdamW` (bf16 NS, CPU) | - | - | {torch_step * 1e3:.2f} | "
        f"{torch_step / ref_step:.2f}x | {torch_step / floor:.2f}x |")


if __name__ == "__main__":
  main()
