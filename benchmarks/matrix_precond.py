"""Shampoo and SOAP on a transformer-shaped tree, against gradtx's and Optax's AdamW.

The tree (from `benchmarks/muon.py`) has 48 leaves: 8 blocks of 128x128, 128x512 and
512x128 matrices with a 1-D norm scale and two biases. Each row runs in its own process
together with its peer, Optax's AdamW, the two interleaved (each repeat times both, in turn),
the minimum over repeats kept; a row process that hangs (see `run_rows`) is retried:

* compile time of the jitted step (`update` + `apply_updates`, lower + compile);
* the amortized step: one cycle of `precondition_frequency=10` consecutive steps (starting on
  a refresh step) timed as a whole, divided by 10;
* the split: every step of the cycle timed alone; "every-step" is the median of the 9
  non-refresh steps (statistics `G G^T`, preconditioned matmuls, grafting / Adam), "refresh"
  the refresh step minus that (eigh / Newton roots, or SOAP's power step + QR);
* the floors: the every-step matmul FLOPs of the preconditioner at this machine's measured
  float32 matmul rate (a jitted batch of 512x512 matmuls), against AdamW's bytes (7 float32
  arrays per parameter: read p, g, m, v, write p, m, v) at the measured stream rate; and the
  refresh work (eigh / QR calls by size) at the measured LAPACK times, divided by 10.

Optax 0.2.8 has no Shampoo or SOAP, so AdamW is the peer. The gradients are an argument of
the jitted step (closed over, XLA would constant-fold `G G^T` at compile time).

Run: `python -m benchmarks.matrix_precond [--repeats 5] [--only shampoo,soap,newton]`; prints
Markdown (the Newton row only when `--only` names it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import gradtx
from benchmarks.muon import make_tree
from gradtx.primitives.preconditioning.shampoo import leaf_layout

F = 10  # precondition_frequency of every row

ROWS = {
  "optax.adamw(1e-3)": lambda: optax.adamw(1e-3),
  "gradtx.adamw(1e-3)": lambda: gradtx.adamw(1e-3),
  "gradtx.shampoo(1e-3) eigh": lambda: gradtx.shampoo(1e-3, precondition_frequency=F),
  "gradtx.shampoo(1e-3, block_size=128) eigh": lambda: gradtx.shampoo(
    1e-3, precondition_frequency=F, block_size=128
  ),
  "gradtx.shampoo(1e-3) newton": lambda: gradtx.shampoo(
    1e-3, precondition_frequency=F, root_method="newton"
  ),
  "gradtx.soap()": lambda: gradtx.soap(precondition_frequency=F),
}


def _shapes(params):
  return [tuple(p.shape) for p in jax.tree.leaves(params)]


def shampoo_work(shapes, block_size=1024, max_dim=10000):
  """(every-step FLOPs, {eigh size: count per refresh}) of Shampoo on these leaves."""
  flops, eighs = 0, {}
  for s in shapes:
    lay = leaf_layout(s, block_size, max_dim)
    if lay is None:
      continue
    _, (pl, nbm, bm), (pr, nbn, bn) = lay
    nb = nbm * nbn
    for pre, b in ((pl, bm), (pr, bn)):
      if pre:  # statistic b x b from a bm x bn block, and the root applied to the block
        flops += nb * 2 * (2 * b * b * (bm * bn // b))
        eighs[b] = eighs.get(b, 0) + nb
  return flops, eighs


def soap_work(shapes, max_dim=10000):
  """(every-step FLOPs, {QR size: count per refresh}) of SOAP on these leaves (2-D ones)."""
  flops, qrs = 0, {}
  for s in shapes:
    if len(s) != 2:
      continue
    size = s[0] * s[1]
    for d in s:
      if d <= max_dim:  # statistic, projection in, projection back
        flops += 3 * 2 * d * size
        qrs[d] = qrs.get(d, 0) + 1
  return flops, qrs


def _min_time(f, *args, repeats=7):
  jax.block_until_ready(f(*args))
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    jax.block_until_ready(f(*args))
    times.append(time.perf_counter() - t)
  return min(times)


def machine_rates():
  """(matmul FLOP/s, stream bytes/s, {n: eigh s}, {n: qr s}) measured here, float32."""
  rng = np.random.default_rng(0)
  a = jnp.asarray(rng.normal(size=(8, 512, 512)), jnp.float32)
  mm = 8 * 2 * 512**3 / _min_time(jax.jit(lambda x: x @ x), a)
  x = jnp.ones((8 << 20,), jnp.float32)
  stream = 2 * x.nbytes / _min_time(jax.jit(lambda x: x * 1.0001 + 1.0), x)
  eigh, qr = {}, {}
  for n in (128, 512):
    g = rng.normal(size=(n, n))
    s = jnp.asarray(g @ g.T, jnp.float32)
    eigh[n] = _min_time(jax.jit(jnp.linalg.eigh), s, repeats=3)
    qr[n] = _min_time(jax.jit(jnp.linalg.qr), s, repeats=3)
  return mm, stream, eigh, qr


class Row:
  def __init__(self, make, params, grads):
    self.opt = make()

    def step(p, s, g):
      u, s = self.opt.update(g, s, p)
      return optax.apply_updates(p, u), s

    state = self.opt.init(params)
    t = time.perf_counter()
    self.step = jax.jit(step).lower(params, state, grads).compile()
    self.compile_s = time.perf_counter() - t
    self.grads = grads
    self.p, self.s = params, state
    for _ in range(F):  # the first cycle: SOAP's init call, Shampoo's warm-up
      self._one()
    self.cycle, self.each = [], []

  def _one(self):
    self.p, self.s = self.step(self.p, self.s, self.grads)

  def measure(self):
    """One whole cycle timed as one, then one cycle step by step."""
    t = time.perf_counter()
    for _ in range(F):
      self._one()
    jax.block_until_ready(self.p)
    self.cycle.append((time.perf_counter() - t) / F)
    each = []
    for _ in range(F):
      t = time.perf_counter()
      self._one()
      jax.block_until_ready(self.p)
      each.append(time.perf_counter() - t)
    self.each.append(each)

  def summary(self):
    per_pos = np.min(np.asarray(self.each), axis=0)  # position 0 is the refresh step
    every = float(np.median(per_pos[1:]))
    return min(self.cycle), every, float(per_pos[0]) - every


def measure_row(name: str, repeats: int) -> dict:
  """`name` and optax.adamw (the peer), interleaved in this process."""
  params, grads = make_tree(0), make_tree(1)
  rows = {n: Row(ROWS[n], params, grads) for n in dict.fromkeys(["optax.adamw(1e-3)", name])}
  for _ in range(repeats):
    for r in rows.values():
      r.measure()
  cyc, every, refresh = rows[name].summary()
  return dict(name=name, compile=rows[name].compile_s, cycle=cyc, every=every,
              refresh=refresh, base=rows["optax.adamw(1e-3)"].summary()[0])


def run_rows(names, repeats: int, timeout: float, tries: int = 3) -> dict:
  """Each row in its own process (with its own peer), retried when it hangs: jaxlib's CPU
  runtime here sometimes deadlocks inside a step with conditionals around LAPACK calls (all
  threads idle; seen with the old per-leaf-conditional code and, more rarely, the new)."""
  out = {}
  for n in names:
    for attempt in range(tries):
      cmd = [sys.executable, "-m", "benchmarks.matrix_precond", "--row", n,
             "--repeats", str(repeats)]
      try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
      except subprocess.TimeoutExpired:
        print(f"{n}: attempt {attempt + 1} hung (> {timeout:.0f} s), retrying", flush=True)
        continue
      out[n] = json.loads(res.stdout.strip().splitlines()[-1])
      print(f"measured {n}: compile {out[n]['compile']:.2f} s", flush=True)
      break
  return out


def main(argv: list[str] | None = None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--repeats", type=int, default=5)
  ap.add_argument("--only", default="", help="comma-separated substrings of row names")
  ap.add_argument("--row", default="", help=argparse.SUPPRESS)  # one row, JSON out
  ap.add_argument("--timeout", type=float, default=300.0, help="seconds per row process")
  args = ap.parse_args(argv)
  # Synchronous CPU dispatch: with async dispatch a chain of steps holding conditionals can
  # hang (jax-ml/jax#25861; seen here with the SOAP and Newton rows). Every row pays it alike.
  jax.config.update("jax_cpu_enable_async_dispatch", False)
  if args.row:
    print(json.dumps(measure_row(args.row, args.repeats)))
    return
  params = make_tree(0)
  shapes = _shapes(params)
  n_params = sum(int(np.prod(s)) for s in shapes)
  only = args.only.split(",") if args.only else ["shampoo", "soap"]
  names = [n for n in ROWS if "adamw" in n or any(s in n for s in only)]
  if not args.only:  # the Newton row (~20 s compile, ~0.5 s a step here) on request only
    names = [n for n in names if "newton" not in n]
  rows = run_rows(names, args.repeats, args.timeout)
  mm, stream, eigh, qr = machine_rates()
  print(
    f"\njax {jax.__version__}, {jax.devices()[0].device_kind}, {len(shapes)} leaves "
    f"({n_params} params), f={F}, min of {args.repeats} interleaved repeats"
  )
  print(
    f"machine: matmul {mm / 1e9:.0f} GFLOP/s (8x512^3 batch), stream {stream / 1e9:.1f} GB/s, "
    + ", ".join(f"eigh{n} {eigh[n] * 1e3:.1f} ms, qr{n} {qr[n] * 1e3:.1f} ms" for n in eigh)
  )
  print(
    "\n| optimizer | compile (s) | amortized step (ms) | peer optax.adamw (ms) | ratio "
    "| every-step (ms) | refresh extra (ms) |"
  )
  print("|---|---|---|---|---|---|---|")
  for n in names:
    if n not in rows:
      print(f"| {n} | hung 3 times | | | | | |")
      continue
    r = rows[n]
    print(
      f"| {n} | {r['compile']:.2f} | {r['cycle'] * 1e3:.2f} | {r['base'] * 1e3:.2f} | "
      f"{r['cycle'] / r['base']:.2f} | {r['every'] * 1e3:.2f} | {r['refresh'] * 1e3:.1f} |"
    )
  base = min(r["base"] for r in rows.values())
  adam_floor = 7 * 4 * n_params / stream
  print(f"\nFloors (AdamW stream floor {adam_floor * 1e3:.2f} ms):\n")
  print("| work | every-step FLOPs | every-step floor (ms) | refresh calls | "
        "refresh floor / 10 (ms) | floor / AdamW floor | floor / best optax.adamw |")
  print("|---|---|---|---|---|---|---|")
  for name, (flops, calls), table in (
    ("shampoo (block 1024)", shampoo_work(shapes), eigh),
    ("shampoo (block 128)", shampoo_work(shapes, 128), eigh),
    ("soap", soap_work(shapes), qr),
  ):
    step_floor = flops / mm
    ref_floor = sum(c * table[d] for d, c in calls.items()) / F
    tot = step_floor + ref_floor
    print(
      f"| {name} | {flops / 1e9:.2f} G | {step_floor * 1e3:.2f} | "
      f"{', '.join(f'{c}x{d}' for d, c in sorted(calls.items()))} | {ref_floor * 1e3:.1f} | "
      f"{step_floor / adam_floor:.1f} + {ref_floor / adam_floor:.1f} | {tot / base:.1f} |"
    )


if __name__ == "__main__":
  main()
