"""Floor 1, numerics: dtype policy, hoisted scalars, leafwise maps, safe division, global
reductions, `apply_updates`, and Optax's public numeric helpers (moments and their bias
correction, safe norms and increments, power iteration, matrix roots, NNLS, Polyak and
periodic updates, `tree_map_params`). Imports `gradtx.core` and `gradtx.tree_utils`
(whose modules import only the numerics modules that do not import them back).
"""

from gradtx.numerics.distributions import multi_normal
from gradtx.numerics.linalg import matrix_inverse_pth_root, nnls, power_iteration
from gradtx.numerics.moments import (
  bias_correction,
  update_infinity_moment,
  update_moment,
  update_moment_per_elem_norm,
)
from gradtx.numerics.safety import (
  safe_increment,
  safe_int32_increment,
  safe_norm,
  safe_root_mean_squares,
)
from gradtx.numerics.state_map import tree_map_params
from gradtx.numerics.updates import apply_updates, incremental_update, periodic_update

__all__ = [
  'apply_updates',
  'incremental_update',
  'periodic_update',
  'bias_correction',
  'update_moment',
  'update_infinity_moment',
  'update_moment_per_elem_norm',
  'safe_increment',
  'safe_int32_increment',
  'safe_norm',
  'safe_root_mean_squares',
  'matrix_inverse_pth_root',
  'power_iteration',
  'nnls',
  'multi_normal',
  'tree_map_params',
]
