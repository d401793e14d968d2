"""`gradtx.microbatching`: Optax's `optax.microbatching` (`microbatch`, `micro_vmap`,
`micro_grad`)."""

__all__: list[str] = []
