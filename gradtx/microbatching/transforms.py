"""Microbatching (Optax's `optax.microbatching.microbatch`, `micro_vmap`, `micro_grad`,
`reshape_batch_axis`): evaluate a function on a large batch as a sequential loop
(`lax.fori_loop`) over microbatches and combine the results with an accumulator, so
peak memory is that of one microbatch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.tree_util import keystr

from gradtx.microbatching.accumulators import AccumulationType, canonicalize

__all__ = ["reshape_batch_axis", "microbatch", "micro_vmap", "micro_grad", "IndividualOutputs"]

Function = Callable[..., Any]


class IndividualOutputs(NamedTuple):
  """Per-example outputs of `micro_grad`: the loss `values`, `metrics_fn` of each
  gradient, and the function's own `aux` (None without `has_aux`)."""

  values: Any
  metrics: Any
  aux: Any


def reshape_batch_axis(tree: Any, microbatch_size: int, axis: int = 0) -> Any:
  """Each leaf's batch axis `axis` of size `B` split into `(B // microbatch_size,
  microbatch_size)` in column-major order: microbatch `i` holds rows `i, i + n, i + 2n,
  ...` (`n = B // microbatch_size`), so a sharding of the batch axis carries over to the
  `microbatch_size` axis."""

  def leaf(x):
    x = jnp.asarray(x)
    return x.reshape((*x.shape[:axis], -1, microbatch_size, *x.shape[axis + 1 :]), order="F")

  return jax.tree.map(leaf, tree)


def _as_tuple(x: Any, kind: type) -> tuple:
  return (x,) if isinstance(x, kind) else tuple(x)


def _batch_size(batch: list[tuple[str, Any, int]], microbatch_size: int) -> int:
  """The common size of every batch leaf's batch axis; errors name the argument and leaf."""
  sizes = []
  for name, tree, axis in batch:
    for path, x in jax.tree_util.tree_leaves_with_path(tree):
      shape = jnp.shape(x)
      if not -len(shape) <= axis < len(shape):
        raise ValueError(
          f"microbatch: {name} leaf {keystr(path) or '<root>'} has shape "
          f"{shape}, with no batch axis {axis}."
        )
      sizes.append((f"{name}{keystr(path)}", shape[axis]))
  if not sizes:
    raise ValueError("microbatch: no batch arguments (argnums / argnames) were given.")
  if len({s for _, s in sizes}) > 1:
    listed = ", ".join(f"{n}: {s}" for n, s in sizes)
    raise ValueError(
      f"microbatch: batch arguments must have equal-size batch axes; found {listed}."
    )
  size = sizes[0][1]
  if size % microbatch_size:
    raise ValueError(
      f"microbatch: batch_size={size} must be divisible by microbatch_size={microbatch_size}."
    )
  return size


def microbatch(
  fun: Function,
  argnums: int | Sequence[int],
  microbatch_size: int | None,
  accumulator: Any = AccumulationType.SUM,
  *,
  argnames: str | Sequence[str] = (),
  in_axes: int | Sequence[int] = 0,
  num_real_microbatches: int | jax.Array | None = None,
) -> Function:
  """`fun` evaluated microbatch by microbatch and combined by `accumulator`.

  The arguments `argnums` (positions) and `argnames` (keywords) have a batch
  axis (`in_axes`, aligned with `argnums + argnames`) of one size `B`,
  divisible by `microbatch_size`; they are split with `reshape_batch_axis`
  into `n = B // microbatch_size` microbatches, and

      carry = acc.init(...); for i < n: carry = acc.update(carry, fun(microbatch i), i)

  runs as a `lax.fori_loop`, stopping after `num_real_microbatches` (may be
  traced) if given. `accumulator` is an `Accumulator`, an `AccumulationType`
  (SUM, MEAN, RUNNING_MEAN, CONCAT) or a tree of them, a prefix of `fun`'s
  output. `microbatch_size=None` returns `fun` itself.
  """
  if microbatch_size is None:
    return fun
  argnums = _as_tuple(argnums, int)
  argnames = _as_tuple(argnames, str)
  axes = _as_tuple(in_axes, int)
  if len(axes) == 1 and len(argnums) + len(argnames) != 1:
    axes = axes * (len(argnums) + len(argnames))
  if len(axes) != len(argnums) + len(argnames):
    raise ValueError(
      f"microbatch: in_axes={in_axes!r} must give one axis per batch "
      f"argument (argnums={argnums}, argnames={argnames})."
    )

  def microbatched(*args, **kwargs):
    slots = [(i, f"argument {i}", args[i]) for i in argnums] + [
      (n, f"keyword argument {n!r}", kwargs[n]) for n in argnames
    ]
    batch = [(label, tree, ax) for (_, label, tree), ax in zip(slots, axes)]
    num = _batch_size(batch, microbatch_size) // microbatch_size
    split = [reshape_batch_axis(tree, microbatch_size, ax) for _, tree, ax in batch]
    acc = canonicalize(accumulator, num)

    def call(index):
      new_args, new_kwargs = list(args), dict(kwargs)
      for (slot, _, _), tree, ax in zip(slots, split, axes):
        part = jax.tree.map(lambda x, a=ax: jnp.take(x, index, axis=a), tree)
        if isinstance(slot, int):
          new_args[slot] = part
        else:
          new_kwargs[slot] = part
      return fun(*new_args, **new_kwargs)

    carry = acc.init(jax.eval_shape(call, 0))
    steps = num if num_real_microbatches is None else num_real_microbatches
    carry = jax.lax.fori_loop(0, steps, lambda i, c: acc.update(c, call(i), i), carry)
    return acc.finalize(carry)

  return microbatched


def micro_vmap(
  fun: Function,
  in_axes: int | Sequence[int | None] = 0,
  out_axes: Any = 0,
  *,
  microbatch_size: int | None = None,
  vmap_fn: Callable[..., Function] = jax.vmap,
  accumulator: Any = AccumulationType.CONCAT,
  num_real_microbatches: int | jax.Array | None = None,
) -> Function:
  """`jax.vmap(fun, in_axes)` evaluated `microbatch_size` examples at a time.

  The default CONCAT returns what `jax.vmap` returns; SUM / MEAN (or a tree
  of accumulators) reduce over the batch axis without materializing it.
  Keyword arguments are mapped along axis 0 (as `jax.vmap` does). `out_axes`
  must be 0. `vmap_fn` replaces `jax.vmap` (e.g. a partial of it).
  """
  if out_axes != 0:
    raise NotImplementedError("micro_vmap: out_axes must be 0.")
  axes = _as_tuple(in_axes, int)

  def vmapped_then_reduced(*args, kwargs):
    out = vmap_fn(fun, axes, out_axes)(*args, **kwargs)
    per_microbatch = jax.tree.leaves(out)[0].shape[0]
    return canonicalize(accumulator, per_microbatch).aggregate(out)

  mapped = [i for i, ax in enumerate(axes) if ax is not None]
  looped = microbatch(
    vmapped_then_reduced,
    argnums=tuple(mapped),
    argnames="kwargs",
    microbatch_size=microbatch_size,
    accumulator=accumulator,
    in_axes=tuple(axes[i] for i in mapped) + (0,),
    num_real_microbatches=num_real_microbatches,
  )
  return lambda *args, **kwargs: looped(*args, kwargs=kwargs)


def micro_grad(
  fun: Function,
  has_aux: bool = False,
  argnums: int | Sequence[int] = 0,
  *,
  batch_argnums: int | Sequence[int] = 1,
  keep_batch_dim: bool = True,
  microbatch_size: int | None = None,
  accumulator: Any = AccumulationType.SUM,
  transform_fn: Callable[[Any], Any] = lambda x: x,
  metrics_fn: Callable[[Any], Any] = lambda x: None,
  num_real_microbatches: int | jax.Array | None = None,
) -> Function:
  """Per-example gradients, transformed and accumulated over the batch.

  For each example `b` of the `batch_argnums` arguments, `g_b = grad fun(...)`
  (w.r.t. `argnums`); returns `(acc_b transform_fn(g_b), IndividualOutputs(values,
  metrics, aux))` with the accumulation `accumulator` (SUM by default) and the
  per-example `values` (the loss), `metrics_fn(g_b)` and `aux` concatenated.
  With `keep_batch_dim` (default) `fun` sees each example with a batch axis of
  size 1. Examples run `microbatch_size` at a time (see `micro_vmap`).
  """
  batch_argnums = _as_tuple(batch_argnums, int)
  with_aux = fun if has_aux else (lambda *a, **k: (fun(*a, **k), None))
  value_and_grad = jax.value_and_grad(with_aux, argnums, has_aux=True)

  def per_example(*args, **kwargs):
    (value, aux), grad = value_and_grad(*args, **kwargs)
    return transform_fn(grad), IndividualOutputs(value, metrics_fn(grad), aux)

  in_axes = tuple(0 if i in batch_argnums else None for i in range(max(batch_argnums) + 1))
  run = micro_vmap(
    per_example,
    in_axes=in_axes,
    accumulator=(accumulator, AccumulationType.CONCAT),
    microbatch_size=microbatch_size,
    num_real_microbatches=num_real_microbatches,
  )
  if not keep_batch_dim:
    return run

  def with_example_axis(*args, **kwargs):
    args = list(args)
    for i in batch_argnums:
      args[i] = jax.tree.map(lambda x: jnp.expand_dims(x, 1), args[i])
    return run(*args, **kwargs)

  return with_example_axis
