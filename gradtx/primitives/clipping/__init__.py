"""Clipping: elementwise, by global norm.
"""

from gradtx.primitives.clipping.clipping import (clip, clip_by_global_norm, global_norm, ClipByGlobalNormState)

__all__ = ['clip', 'clip_by_global_norm', 'global_norm', 'ClipByGlobalNormState']
