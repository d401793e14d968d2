"""Measuring one step: fresh compiles, the bandwidth floor, interleaved timing, state bytes."""

from __future__ import annotations

import dataclasses
import math
import resource
import statistics
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp

DONATE = (1, 2)  # step(grads, opt_state, params): opt_state and params are donated


def tree_nbytes(tree: Any) -> int:
  return sum(int(x.nbytes) for x in jax.tree.leaves(tree))


def copy_tree(tree: Any) -> Any:
  """Fresh device buffers (each contender donates its own)."""
  return jax.tree.map(lambda x: jnp.array(x, copy=True), tree)


def make_step(tx: Any, apply_updates: Callable, state_first: bool = False) -> Callable:
  """`step(grads, opt_state, params) -> (params, opt_state)`: update + apply_updates.

  A new function object per call, so jit's tracing cache never hits. With `state_first`
  it returns `(opt_state, params)` instead: jax pairs donated inputs with outputs of the
  same shape and dtype first-come first-served, in argument order, so returning the
  donated trees in the order they came in makes every buffer alias itself; with
  `(params, opt_state)` a leaf's new params land in its old `mu` buffer and so on, and
  XLA inserts copies (see benchmarks/README.md)."""
  def step(grads, opt_state, params):
    updates, opt_state = tx.update(grads, opt_state, params)
    new_params = apply_updates(params, updates)
    return (opt_state, new_params) if state_first else (new_params, opt_state)
  return step


def _tiles(n: int) -> tuple[int, int]:
  b = math.gcd(n, 1024)
  return n // b, b


def floor_buffers(params: Any, n_state: int, state_dtype: Any = jnp.float32) -> list:
  """Per leaf, one buffer holding exactly the bytes of `p` (float32) and its `n_state`
  state arrays (`state_dtype`): unsigned words of the state's width (uint32 for float32
  state, uint16 for bfloat16), shape `(T, W, B)` with `T * B` the leaf size and `W` words
  per element. The bytes are only moved, never interpreted as floats."""
  itemsize = jnp.dtype(state_dtype).itemsize if n_state else 4
  word = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint32}[itemsize]
  per_elem = 4 + n_state * itemsize
  width = jnp.dtype(word).itemsize
  out = []
  for p in jax.tree.leaves(params):
    t, b = _tiles(p.size)
    out.append(jnp.zeros((t, per_elem // width, b), word))
  return out


def make_floor(norm_pass: bool) -> Callable:
  """The memory-bandwidth floor of an ideal single-pass optimizer step, with the calling
  convention of `make_step` (`floor(grads, buffers, ()) -> ((), buffers)`).

  Per leaf it reads `g` once and reads and writes, in place (donated), one buffer holding
  the bytes of `p` and the state (`floor_buffers`), with one integer multiply-add per
  word (vectorizes everywhere; no float conversions to make it compute bound): the same
  bytes as reading `p, g, state` and writing `p, state` once. With `norm_pass`, a global
  sum of squares of `g` first (one extra read of `g`) feeds the update. The buffers are
  packed into one array per leaf because XLA:CPU has no multi-output fusion: separate
  outputs would be separate passes over `g`."""
  def floor(grads, buffers, unused):
    leaves = jax.tree.leaves(grads)
    scale = None
    if norm_pass:
      norm = jnp.sqrt(sum(jnp.sum(g * g) for g in leaves))
      scale = 1.0 / jnp.maximum(norm, 1.0)  # what clipping feeds the per-leaf pass
    new = []
    for g, s in zip(leaves, buffers):
      t, _, b = s.shape
      x = g if scale is None else g * scale
      bits = jax.lax.bitcast_convert_type(x, jnp.uint32).reshape(t, 1, b)
      new.append(s * s.dtype.type(3) + bits.astype(s.dtype))
    return unused, new
  return floor


@dataclasses.dataclass
class Compiled:
  fn: Any  # jax.stages.Compiled
  lower_s: float
  compile_s: float

  @property
  def total_s(self) -> float:
    return self.lower_s + self.compile_s


def compile_fresh(make_fn: Callable[[], Callable], args: Sequence[Any],
                  repeats: int = 1, donate: bool = True) -> Compiled:
  """Wall time of `jax.jit(fn).lower(*args).compile()` with a fresh `fn` every time
  (no tracing-cache hit; the persistent compilation cache is disabled by the CLI);
  the fastest of `repeats` is kept. `donate=False`: nothing donated."""
  best = None
  for _ in range(max(1, repeats)):
    jitted = jax.jit(make_fn(), donate_argnums=DONATE if donate else ())
    t0 = time.perf_counter()
    lowered = jitted.lower(*args)
    t1 = time.perf_counter()
    compiled = lowered.compile()
    t2 = time.perf_counter()
    if best is None or (t2 - t0) < best.total_s:
      best = Compiled(compiled, t1 - t0, t2 - t1)
  return best


def _minor_faults() -> int:
  return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


class Contender:
  """A compiled step and the buffers it owns. `run(k)` does k steps and records the
  seconds per step and the minor page faults per step (fresh, untouched buffers: on CPU
  every temporary that XLA allocates per step costs one fault per 4 KiB page)."""

  def __init__(self, name: str, compiled: Compiled, grads: Any, state: Any, params: Any,
               state_first: bool = False):
    self.name, self.compiled, self.state_first = name, compiled, state_first
    self.grads, self.state, self.params = grads, state, params
    self.times: list[float] = []
    self.faults: list[float] = []

  def run(self, k: int) -> float:
    fn = self.compiled.fn
    f0 = _minor_faults()
    t0 = time.perf_counter()
    for _ in range(k):
      out = fn(self.grads, self.state, self.params)
      self.state, self.params = out if self.state_first else out[::-1]
    jax.block_until_ready((self.params, self.state))
    dt = (time.perf_counter() - t0) / k
    self.faults.append((_minor_faults() - f0) / k)
    return dt

  @property
  def median_ms(self) -> float:
    return 1e3 * statistics.median(self.times)

  @property
  def faults_per_step(self) -> float:
    return statistics.median(self.faults) if self.faults else float("nan")

  def release(self) -> None:
    for x in jax.tree.leaves((self.state, self.params)):
      if not x.is_deleted():  # a state may hold the params themselves (not donated)
        x.delete()
    self.state = self.params = self.compiled = None


def time_interleaved(contenders: Sequence[Contender], repeats: int, steps: int,
                     warmup: int) -> None:
  """Warm every contender up, then `repeats` rounds of `steps` steps each, alternating the
  order of contenders every round (ABC, CBA, ...) so that drift in machine load hits all
  of them alike; per-step times are appended to `contender.times`."""
  for c in contenders:
    if warmup:
      c.run(warmup)
    c.faults.clear()
  for r in range(repeats):
    order = contenders if r % 2 == 0 else list(reversed(contenders))
    for c in order:
      c.times.append(c.run(steps))
