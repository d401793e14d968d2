"""Noise: gradient noise (`add_noise`)."""

__all__: list[str] = []
