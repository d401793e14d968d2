"""Noise: gradient noise (`add_noise`)."""

from gradtx.primitives.noise.noise import add_noise, AddNoiseState

__all__ = ['add_noise', 'AddNoiseState']
