"""`gradtx.tree`: Optax's `optax.tree` namespace (short spellings of the tree utilities),
a thin re-export of `gradtx.tree_utils`."""

__all__: list[str] = []
