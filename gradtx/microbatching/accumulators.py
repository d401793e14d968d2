"""How microbatched results are combined: `Accumulator` (init / update / finalize /
aggregate) and the built-in `AccumulationType`s (Optax's `optax.microbatching`)."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["Accumulator", "AccumulationType", "canonicalize"]


@dataclasses.dataclass(frozen=True)
class Accumulator:
  """Combines the evaluations `x_0, ..., x_{n-1}` of a function on `n` microbatches:

      carry = init(shape_dtype_of(x_0))
      for i in range(n): carry = update(carry, x_i, i)
      result = finalize(carry)

  `aggregate(xs)` reduces one evaluation's leading (per-example) axis the same
  way; `micro_vmap` uses it inside each microbatch.
  """

  init: Callable[[Any], Any]
  update: Callable[[Any, Any, Any], Any]
  finalize: Callable[[Any], Any]
  aggregate: Callable[[Any], Any]


class AccumulationType(enum.Enum):
  """The built-in ways to combine microbatch results."""

  MEAN = enum.auto()
  """The mean of the results (equal microbatches: the full-batch mean)."""
  SUM = enum.auto()
  """The sum of the results."""
  RUNNING_MEAN = enum.auto()
  """The mean of the results of the microbatches actually run (`num_real_microbatches`)."""
  CONCAT = enum.auto()
  """The results concatenated along axis 0, in the order of the original batch."""


def _zeros(spec: Any, floating: bool = False) -> jax.Array:
  if floating and not jnp.issubdtype(spec.dtype, jnp.floating):
    raise ValueError(
      f"MEAN and RUNNING_MEAN accumulators need floating-point results; got dtype {spec.dtype}."
    )
  return jnp.zeros(spec.shape, spec.dtype)


def _sum() -> Accumulator:
  return Accumulator(
    init=_zeros,
    update=lambda c, x, i: c + x,
    finalize=lambda c: c,
    aggregate=lambda xs: jnp.sum(xs, axis=0),
  )


def _mean(num_microbatches: int) -> Accumulator:
  return Accumulator(
    init=lambda s: _zeros(s, floating=True),
    update=lambda c, x, i: c + x,
    finalize=lambda c: c / num_microbatches,
    aggregate=lambda xs: jnp.mean(xs, axis=0),
  )


def _running_mean_update(carry: jax.Array, value: jax.Array, index: Any) -> jax.Array:
  """`m_{i+1} = m_i * i / (i + 1) + x_i / (i + 1)`: the mean of the first `i + 1`."""
  kept = index / (index + 1)
  return carry * kept + value * (1 - kept)


def _running_mean() -> Accumulator:
  return Accumulator(
    init=lambda s: _zeros(s, floating=True),
    update=_running_mean_update,
    finalize=lambda c: c,
    aggregate=lambda xs: jnp.mean(xs, axis=0),
  )


def _concat(num_microbatches: int) -> Accumulator:
  """Results stacked as `(num_microbatches, microbatch_size, ...)`, then merged back in
  column-major order: microbatch `i` holds batch rows `i, i + n, i + 2n, ...` (see
  `reshape_batch_axis`), so the merge restores the batch order."""
  return Accumulator(
    init=lambda s: jnp.zeros((num_microbatches, *s.shape), s.dtype),
    update=lambda c, x, i: c.at[i].set(x),
    finalize=lambda c: c.reshape(-1, *c.shape[2:], order="F"),
    aggregate=lambda xs: xs,
  )


def _leafwise(acc: Any) -> Accumulator:
  """An accumulator of arrays applied to every leaf of a result tree."""
  return Accumulator(
    init=lambda specs: jax.tree.map(acc.init, specs),
    update=lambda carry, value, i: jax.tree.map(lambda c, x: acc.update(c, x, i), carry, value),
    finalize=lambda carry: jax.tree.map(acc.finalize, carry),
    aggregate=lambda values: jax.tree.map(acc.aggregate, values),
  )


def _is_accumulator(x: Any) -> bool:
  """Ours, or any object with the four methods (e.g. Optax's `Accumulator`)."""
  return all(callable(getattr(x, n, None)) for n in ("init", "update", "finalize", "aggregate"))


def _positive_count(kind: AccumulationType, num_microbatches: int | None) -> int:
  if num_microbatches is None or num_microbatches <= 0:
    raise ValueError(
      f"{kind.name} accumulation needs num_microbatches > 0; got {num_microbatches}."
    )
  return num_microbatches


def _builtin(kind: Any, num_microbatches: int | None) -> Accumulator:
  if isinstance(kind, enum.Enum) and type(kind).__name__ == "AccumulationType":
    kind = AccumulationType[kind.name]  # Optax's enum members are accepted too
  if kind is AccumulationType.SUM:
    return _leafwise(_sum())
  if kind is AccumulationType.MEAN:
    return _leafwise(_mean(_positive_count(kind, num_microbatches)))
  if kind is AccumulationType.RUNNING_MEAN:
    return _leafwise(_running_mean())
  if kind is AccumulationType.CONCAT:
    return _leafwise(_concat(_positive_count(kind, num_microbatches)))
  raise ValueError(
    f"Unknown accumulator {kind!r}; expected an Accumulator, an "
    "AccumulationType, or a tree of them."
  )


def canonicalize(tree: Any, num_microbatches: int | None) -> Accumulator:
  """One `Accumulator` from an `Accumulator`, an `AccumulationType`, or a tree of them that
  is a prefix of the result tree (each applies to its subtree)."""
  accs = jax.tree.map(
    lambda a: a if _is_accumulator(a) else _builtin(a, num_microbatches),
    tree,
    is_leaf=_is_accumulator,
  )
  each = lambda method: lambda *trees: jax.tree.map(method, accs, *trees, is_leaf=_is_accumulator)
  return Accumulator(
    init=each(lambda a, v: a.init(v)),
    update=lambda carry, value, i: jax.tree.map(
      lambda a, c, v: a.update(c, v, i), accs, carry, value, is_leaf=_is_accumulator
    ),
    finalize=each(lambda a, c: a.finalize(c)),
    aggregate=each(lambda a, v: a.aggregate(v)),
  )
