"""`gradtx.projections`: Optax's `optax.projections`, Euclidean projections
`argmin_p ||x - p||_2^2` of a tree onto a set: boxes (`boxes`), the simplex and l1 / l2
balls and spheres (`balls`), lines, hyperplanes and halfspaces (`affine`)."""

from gradtx.projections.affine import projection_halfspace, projection_hyperplane, projection_vector
from gradtx.projections.balls import (
  projection_l1_ball,
  projection_l1_sphere,
  projection_l2_ball,
  projection_l2_sphere,
  projection_simplex,
)
from gradtx.projections.boxes import (
  projection_box,
  projection_hypercube,
  projection_linf_ball,
  projection_non_negative,
)

__all__ = [
  'projection_box',
  'projection_halfspace',
  'projection_hypercube',
  'projection_hyperplane',
  'projection_l1_ball',
  'projection_l1_sphere',
  'projection_l2_ball',
  'projection_l2_sphere',
  'projection_linf_ball',
  'projection_non_negative',
  'projection_simplex',
  'projection_vector',
]
