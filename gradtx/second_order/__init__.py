"""`gradtx.second_order`: Optax's `optax.second_order` (Hessian-vector products, Hessian and
Fisher diagonals of a loss `loss(params, inputs, targets)`)."""

from gradtx.second_order.curvature import fisher_diag, hessian_diag, hvp

__all__ = ['hvp', 'hessian_diag', 'fisher_diag']
