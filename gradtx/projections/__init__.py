"""`gradtx.projections`: Optax's `optax.projections` (Euclidean projections onto sets)."""

__all__: list[str] = []
