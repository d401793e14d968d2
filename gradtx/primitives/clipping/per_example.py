"""Per-example clipping (differential privacy): clip each example's gradient, then sum."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx.primitives.clipping.clipping import global_norm

__all__ = ["per_example_global_norm_clip", "per_example_layer_norm_clip"]


def _check_batch_dim(owner: str, grads: Any) -> None:
  """Every leaf has the same leading (batch) axis."""
  leaves = jax.tree_util.tree_leaves_with_path(grads)
  if not leaves:
    raise ValueError(f"{owner}: grads has no leaves.")
  batch = jnp.shape(leaves[0][1])[:1]
  for path, g in leaves:
    if jnp.ndim(g) < 1 or jnp.shape(g)[:1] != batch:
      raise ValueError(
        f"{owner}: every leaf of grads needs the batch axis first, of one size; leaf "
        f"{jax.tree_util.keystr(path) or '<root>'} has shape {jnp.shape(g)} (the first leaf's "
        f"batch size is {batch[0] if batch else None})."
      )


def _clipped_sum(grads: Any, max_norm: Any) -> tuple[Any, jax.Array]:
  """`sum_i g_i min(1, max_norm / ||g_i||)` over the batch, and how many were clipped."""
  norms = jax.vmap(global_norm)(grads)
  factors = jnp.nan_to_num(jnp.minimum(max_norm / norms, 1.0), nan=1.0)
  total = jax.tree.map(lambda g: jnp.tensordot(factors, g, axes=1), grads)
  return total, jnp.sum(factors < 1.0)


def per_example_global_norm_clip(grads: Any, l2_norm_clip: Any) -> tuple[Any, jax.Array]:
  """Clips each example's gradient to global norm `l2_norm_clip` and sums them
  (Abadi et al., 2016, DP-SGD): `sum_i g_i min(1, C / ||g_i||)`; a zero gradient
  (`0 / 0`) counts as unclipped. Every leaf has the batch axis first. Returns the
  sum and the number of examples clipped."""
  _check_batch_dim("per_example_global_norm_clip", grads)
  return _clipped_sum(grads, l2_norm_clip)


def per_example_layer_norm_clip(
  grads: Any, global_l2_norm_clip: Any, uniform: bool = True
) -> tuple[Any, Any]:
  """Per-layer (per-leaf) version (McMahan et al., 2017): leaf `k` of `K` is clipped
  per example to `C / sqrt(K)` (`uniform=True`) or `C sqrt(D_k / D)` (`D_k` its
  parameters per example, `D` all of them), then summed over the batch. Returns the
  tree of sums and the tree of counts clipped per leaf."""
  _check_batch_dim("per_example_layer_norm_clip", grads)
  leaves, treedef = jax.tree.flatten(grads)
  sizes = [jnp.size(g) // jnp.shape(g)[0] for g in leaves]
  fractions = [1 / len(leaves)] * len(leaves) if uniform else [s / sum(sizes) for s in sizes]
  results = [_clipped_sum(g, global_l2_norm_clip * f**0.5) for g, f in zip(leaves, fractions)]
  return (treedef.unflatten([r[0] for r in results]), treedef.unflatten([r[1] for r in results]))
