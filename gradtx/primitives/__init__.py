"""Floor 2, the primitives, grouped by concept: scaling (learning rate, trust ratio),
moments and momentum, adaptive scaling, clipping, decay, noise, constraints. Each imports only floors 0-1 and
sibling primitives.
"""

from gradtx.primitives.scaling import *  # noqa: F401,F403
from gradtx.primitives.moments import *  # noqa: F401,F403
from gradtx.primitives.adaptive import *  # noqa: F401,F403
from gradtx.primitives.clipping import *  # noqa: F401,F403
from gradtx.primitives.decay import *  # noqa: F401,F403
from gradtx.primitives.noise import *  # noqa: F401,F403
from gradtx.primitives.constraints import *  # noqa: F401,F403
from gradtx.primitives.preconditioning import *  # noqa: F401,F403
from gradtx.primitives import scaling as _scaling
from gradtx.primitives import moments as _moments
from gradtx.primitives import adaptive as _adaptive
from gradtx.primitives import clipping as _clipping
from gradtx.primitives import decay as _decay
from gradtx.primitives import noise as _noise
from gradtx.primitives import constraints as _constraints
from gradtx.primitives import preconditioning as _preconditioning

__all__ = [*_scaling.__all__, *_moments.__all__, *_adaptive.__all__, *_clipping.__all__, *_decay.__all__, *_noise.__all__,
           *_constraints.__all__, *_preconditioning.__all__]
