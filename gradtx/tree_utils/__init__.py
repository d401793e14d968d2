"""Floor 1, tree utilities: Optax's `optax.tree_utils` functions (`gradtx.tree` spells the
same functions without the `tree_` prefix), leaf selectors by path (`by_path`,
`by_ndim`, `by_leaf`) and the private mask helpers. Imports `gradtx.core` and
`gradtx.numerics`.
"""

from gradtx.numerics.moments import bias_correction as tree_bias_correction
from gradtx.numerics.moments import update_infinity_moment as tree_update_infinity_moment
from gradtx.numerics.moments import update_moment as tree_update_moment
from gradtx.numerics.moments import update_moment_per_elem_norm as tree_update_moment_per_elem_norm
from gradtx.numerics.state_map import tree_map_params
from gradtx.tree_utils.arithmetic import (
  tree_add,
  tree_add_scale,
  tree_clip,
  tree_conj,
  tree_div,
  tree_mul,
  tree_real,
  tree_scale,
  tree_sub,
  tree_where,
)
from gradtx.tree_utils.creation import (
  tree_batch_shape,
  tree_full_like,
  tree_ones_like,
  tree_zeros_like,
)
from gradtx.tree_utils.dtypes import tree_cast, tree_cast_like, tree_dtype
from gradtx.tree_utils.random import (
  tree_random_like,
  tree_split_key_like,
  tree_unwrap_random_key_data,
)
from gradtx.tree_utils.reductions import (
  tree_allclose,
  tree_max,
  tree_min,
  tree_norm,
  tree_size,
  tree_sum,
  tree_vdot,
)
from gradtx.tree_utils.selection import Selector, by_path, by_ndim, by_leaf
from gradtx.tree_utils.state import NamedTupleKey, tree_get, tree_get_all_with_path, tree_set

__all__ = [
  'tree_add',
  'tree_add_scale',
  'tree_allclose',
  'tree_batch_shape',
  'tree_bias_correction',
  'tree_cast',
  'tree_cast_like',
  'tree_clip',
  'tree_conj',
  'tree_div',
  'tree_dtype',
  'tree_full_like',
  'tree_get',
  'tree_get_all_with_path',
  'tree_map_params',
  'tree_max',
  'tree_min',
  'tree_mul',
  'tree_norm',
  'tree_ones_like',
  'tree_random_like',
  'tree_real',
  'tree_scale',
  'tree_set',
  'tree_size',
  'tree_split_key_like',
  'tree_sub',
  'tree_sum',
  'tree_unwrap_random_key_data',
  'tree_update_infinity_moment',
  'tree_update_moment',
  'tree_update_moment_per_elem_norm',
  'tree_vdot',
  'tree_where',
  'tree_zeros_like',
  'NamedTupleKey',
  'Selector',
  'by_path',
  'by_ndim',
  'by_leaf',
]
