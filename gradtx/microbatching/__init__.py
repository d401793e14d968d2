"""`gradtx.microbatching`: Optax's `optax.microbatching` (`microbatch`, `micro_vmap`,
`micro_grad`, `reshape_batch_axis`, and the accumulators that combine microbatch results)."""

from gradtx.microbatching.accumulators import AccumulationType, Accumulator
from gradtx.microbatching.transforms import micro_grad, micro_vmap, microbatch, reshape_batch_axis

__all__ = [
  'microbatch',
  'micro_vmap',
  'micro_grad',
  'reshape_batch_axis',
  'AccumulationType',
  'Accumulator',
]
