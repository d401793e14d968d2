"""Floor 4, combinators: `chain`, parameter groups (`masked`, `partition`, `freeze`), and
hyperparameters as data (`inject_hyperparams`, `hyperparams_of`, `set_hyperparams`).
"""

from gradtx.combinators.combine import chain
from gradtx.combinators.hyperparams import (
  inject_hyperparams,
  hyperparams_of,
  set_hyperparams,
  InjectHyperparamsState,
)
from gradtx.combinators.groups import (
  masked,
  partition,
  multi_transform,
  set_to_zero,
  param_groups,
  MaskedState,
  PartitionState,
  freeze,
)
from gradtx.combinators.groups import selective_transform, MultiTransformState
from gradtx.combinators.combine import named_chain
from gradtx.combinators.layouts import flatten

__all__ = [
  'chain',
  'inject_hyperparams',
  'hyperparams_of',
  'set_hyperparams',
  'InjectHyperparamsState',
  'masked',
  'partition',
  'multi_transform',
  'set_to_zero',
  'param_groups',
  'MaskedState',
  'PartitionState',
  'freeze',
  'selective_transform',
  'MultiTransformState',
  'named_chain',
  'flatten',
]
