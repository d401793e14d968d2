"""Floor 0, the protocol and pytree core: `Module` (a frozen dataclass that is a pytree of its
numeric hyperparameters), `GradientTransformation`, named optimizers as data, and the
construction/trace-time checks. Imports nothing else from gradtx.
"""

from gradtx.core.protocol import (
  GradientTransformation,
  StatelessTransformation,
  EmptyState,
  Params,
  Updates,
  OptState,
  identity,
  stateless,
  stateless_with_tree_map,
  GradientTransformationExtraArgs,
  with_extra_args_support,
  init_empty_state,
  MaskedNode,
  TransformInitFn,
  TransformUpdateFn,
  TransformUpdateExtraArgsFn,
  ScalarOrSchedule,
  MaskOrFn,
  ShouldSkipUpdateFunction,
  ConditionFn,
)

__all__ = [
  'GradientTransformation',
  'StatelessTransformation',
  'EmptyState',
  'Params',
  'Updates',
  'OptState',
  'identity',
  'stateless',
  'stateless_with_tree_map',
  'GradientTransformationExtraArgs',
  'with_extra_args_support',
  'init_empty_state',
  'MaskedNode',
  'TransformInitFn',
  'TransformUpdateFn',
  'TransformUpdateExtraArgsFn',
  'ScalarOrSchedule',
  'MaskOrFn',
  'ShouldSkipUpdateFunction',
  'ConditionFn',
]
