"""Floor 2, the primitives, grouped by concept: scaling (learning rate, trust ratio),
moments and momentum, adaptive scaling, clipping, decay, noise, constraints. Each imports only floors 0-1 and
sibling primitives.
"""

from gradtx.primitives.scaling import *
from gradtx.primitives.moments import *
from gradtx.primitives.adaptive import *
from gradtx.primitives.clipping import *
from gradtx.primitives.decay import *
from gradtx.primitives.noise import *
from gradtx.primitives.constraints import *
from gradtx.primitives.preconditioning import *
from gradtx.primitives import scaling as _scaling
from gradtx.primitives import moments as _moments
from gradtx.primitives import adaptive as _adaptive
from gradtx.primitives import clipping as _clipping
from gradtx.primitives import decay as _decay
from gradtx.primitives import noise as _noise
from gradtx.primitives import constraints as _constraints
from gradtx.primitives import preconditioning as _preconditioning

__all__ = [  # pyright: ignore[reportUnsupportedDunderAll]  (it can't follow `*m.__all__`)
  *_scaling.__all__,
  *_moments.__all__,
  *_adaptive.__all__,
  *_clipping.__all__,
  *_decay.__all__,
  *_noise.__all__,
  *_constraints.__all__,
  *_preconditioning.__all__,
]
