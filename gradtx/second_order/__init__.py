"""`gradtx.second_order`: Optax's `optax.second_order` (Hessian-vector products, Hessian and
Fisher diagonals)."""

__all__: list[str] = []
