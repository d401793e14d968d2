"""Same-shape leaf batching for the matrix preconditioners (Shampoo, SOAP): leaves whose
arrays (gradient and every state array) have the same shapes and dtypes are stacked and their
per-leaf function is `vmap`ped, so on an accelerator a transformer's 8 same-shaped `128 x 512`
layers cost one batched `eigh` / QR per refresh, not eight (on CPU see `map_same_shape`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

__all__ = ["map_same_shape"]


def _signature(args: Sequence) -> tuple:
  return tuple(jax.tree.map(lambda a: (a.shape, a.dtype), jax.tree.leaves(args)))


def batching() -> bool:
  """Whether `map_same_shape` stacks same-shaped leaves here (one accelerator)."""
  return jax.device_count() == 1 and jax.default_backend() != "cpu"


def map_same_shape(fn: Callable[..., tuple], per_leaf: Sequence[tuple]) -> list[tuple]:
  """`[fn(*args) for args in per_leaf]`, with the leaves of one signature (the shapes and
  dtypes of all their arrays, nested tuples included) computed together by `jax.vmap(fn)`
  over the stacked arrays. `fn` must not branch on values that differ between the leaves of a
  group (closed-over scalars, like a refresh flag, stay unbatched: a `lax.cond` on them stays
  a conditional). With more than one device visible nothing is stacked: stacking
  differently sharded leaves would move data between devices. On CPU nothing is stacked
  either: jaxlib's batched LAPACK kernels (eigh, QR) split a batch over the intra-op thread
  pool and block a pool thread until it is done, so two such calls running at once on a
  2-thread pool deadlock (`jax::ParallelBatchMap`, seen here in gdb, every thread idle);
  unbatched calls run inline."""
  batch = batching()
  groups: dict = {}
  for i, args in enumerate(per_leaf):
    key = _signature(args) if batch else i
    groups.setdefault(key, []).append(i)
  out: list = [None] * len(per_leaf)
  for idx in groups.values():
    if len(idx) == 1:
      out[idx[0]] = fn(*per_leaf[idx[0]])
      continue
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *(per_leaf[i] for i in idx))
    res = jax.vmap(fn)(*stacked)
    for j, i in enumerate(idx):
      out[i] = jax.tree.map(lambda r, j=j: r[j], res)
  return out
