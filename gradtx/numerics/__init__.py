"""Floor 1, numerics: dtype policy, hoisted scalars, leafwise maps, safe division, global
reductions, and `apply_updates`. Imports only `gradtx.core`.
"""

from gradtx.numerics.updates import (apply_updates)

__all__ = ['apply_updates']
