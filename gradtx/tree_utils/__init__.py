"""Floor 1, tree utilities: Optax's `optax.tree_utils` functions, leaf selectors by path
(`by_path`, `by_ndim`, `by_leaf`) and the private mask helpers. Imports `gradtx.core` and
`gradtx.numerics`.
"""

from gradtx.tree_utils.selection import (Selector, by_path, by_ndim, by_leaf)

__all__ = ['Selector', 'by_path', 'by_ndim', 'by_leaf']
