"""Rounding to low precision without systematic loss: counter-based random bits and
stochastic rounding.

Round-to-nearest discards everything below half an ulp, every time: a bfloat16
param (8 significant bits) never moves when its update is under half an ulp, and
a bfloat16 moving average stops following its input. Stochastic rounding rounds
`x` up with probability `(x - down) / (up - down)`, so `E[round(x)] = x`: small
contributions survive on average (Gupta et al., 2015, "Deep learning with limited
numerical precision"; Zamirai et al., 2020, "Revisiting BFloat16 training").

The random bits come from a counter-based hash (no PRNG key in the state): the
element's index mixed with seeds such as the step count, so a run reproduces bit
for bit, and the bits are elementwise (XLA fuses them into the rounding; no
array of random numbers is materialized).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["hash_bits", "element_bits", "stochastic_round", "round_to"]

_GOLDEN = 0x9E3779B9
_MIX = 0x85EBCA6B


def _fmix(h: jax.Array) -> jax.Array:
  """MurmurHash3's 32-bit finalizer: a bijection of uint32 with full avalanche."""
  h = h ^ (h >> 16)
  h = h * jnp.uint32(0x85EBCA6B)
  h = h ^ (h >> 13)
  h = h * jnp.uint32(0xC2B2AE35)
  return h ^ (h >> 16)


def _as_uint32(x: Any) -> jax.Array:
  """The bits of `x` as uint32 (floats by their bit pattern, widened or folded to 32 bits)."""
  x = jnp.asarray(x)
  if jnp.issubdtype(x.dtype, jnp.complexfloating):
    return _as_uint32(x.real) ^ _fmix(_as_uint32(x.imag))
  if jnp.issubdtype(x.dtype, jnp.floating):
    x = lax.bitcast_convert_type(x, jnp.dtype(f"uint{x.dtype.itemsize * 8}"))
  if x.dtype.itemsize == 8:
    return (x ^ (x >> 32)).astype(jnp.uint32)
  return x.astype(jnp.uint32)


def hash_bits(*parts: Any) -> jax.Array:
  """32 well-mixed random bits per element from the bits of `parts` (broadcast together).

  The parts are folded in with one odd multiplier each, then one finalizer round
  mixes all bits: three multiplies per element plus one per part, cheap next to a
  memory-bound optimizer step.
  """
  h = jnp.uint32(_GOLDEN)
  for part in parts:
    h = (h ^ _as_uint32(part)) * jnp.uint32(_MIX)
    h = h ^ (h >> 15)
  return _fmix(h)


def element_bits(shape: tuple, *seeds: Any) -> jax.Array:
  """Random uint32 bits of `shape`: each element's flat index hashed with `seeds`
  (scalars such as a step count, or arrays of `shape` such as a gradient)."""
  index = jnp.zeros(shape, jnp.uint32)
  stride = 1
  for axis in reversed(range(len(shape))):
    index = index + lax.broadcasted_iota(jnp.uint32, shape, axis) * jnp.uint32(stride & 0xFFFFFFFF)
    stride *= shape[axis]
  return hash_bits(index, *seeds)


def stochastic_round(x: jax.Array, dtype: Any, bits: jax.Array) -> jax.Array:
  """`x` rounded to `dtype`, up with probability `(x - down) / (up - down)`.

  `down` and `up` are the neighbours of `x` in `dtype`; `bits` (uint32, shaped
  like `x`) supply the randomness. Exact values, NaN and +-Inf are returned as
  round-to-nearest would. For a float32 `x` and a bfloat16 target this is the
  classic bit trick (add 16 random bits below bfloat16's last bit, truncate).
  """
  dtype = jnp.dtype(dtype)
  if x.dtype == dtype or jnp.issubdtype(dtype, jnp.complexfloating):
    return x.astype(dtype)
  if x.dtype == jnp.float32 and dtype == jnp.bfloat16:
    raw = lax.bitcast_convert_type(x, jnp.uint32)
    raw = (raw + (bits >> 16)) & jnp.uint32(0xFFFF0000)
    out = lax.bitcast_convert_type(raw, jnp.float32).astype(dtype)
    return jnp.where(jnp.isfinite(x), out, x.astype(dtype))
  if x.dtype == jnp.float32 and dtype.itemsize == 1:
    return _stochastic_round_float8(x, dtype, bits)
  nearest = x.astype(dtype)
  back = nearest.astype(x.dtype)
  big = jnp.finfo(dtype).max  # not inf: float8_e4m3fn has none
  toward = jnp.where(back > x, -big, big).astype(dtype)
  other = jnp.nextafter(nearest, toward)
  gap = other.astype(x.dtype) - back
  # probability of taking `other`: the distance from `nearest` in units of the gap
  p = jnp.where(gap != 0, (x - back) / jnp.where(gap != 0, gap, 1), 0)
  u = (bits >> 8).astype(x.dtype) * jnp.asarray(2.0**-24, x.dtype)
  out = jnp.where(u < p, other, nearest)
  return jnp.where(jnp.isfinite(x) & jnp.isfinite(other.astype(x.dtype)), out, nearest)


def _stochastic_round_float8(x: jax.Array, dtype: jnp.dtype, bits: jax.Array) -> jax.Array:
  """float32 to a float8 format, up with probability `(|x| - down) / ulp`. Normal range:
  the bfloat16 trick with the format's fraction width (random bits added below the kept
  fraction bits of the float32 pattern, then truncated); below the smallest normal the
  grid is uniform (`ulp = 2^(minexp - nmant)`): `floor(|x| / ulp + u) * ulp`. Magnitudes
  above the largest finite value saturate to it (float8_e4m3fn has no infinity)."""
  info = jnp.finfo(dtype)
  drop = 23 - int(info.nmant)  # float32 fraction bits below the format's
  a = jnp.abs(x)
  raw = lax.bitcast_convert_type(a, jnp.uint32)
  raw = (raw + (bits >> (32 - drop))) & jnp.uint32(~((1 << drop) - 1) & 0xFFFFFFFF)
  normal = lax.bitcast_convert_type(raw, jnp.float32)
  sub_ulp = 2.0 ** (int(info.minexp) - int(info.nmant))
  u = (bits >> 8).astype(jnp.float32) * jnp.float32(2.0**-24)
  sub = jnp.floor(a * jnp.float32(1 / sub_ulp) + u) * jnp.float32(sub_ulp)
  mag = jnp.where(a < jnp.float32(2.0 ** int(info.minexp)), sub, normal)
  mag = jnp.minimum(mag, jnp.float32(info.max))
  out = jnp.where(x < 0, -mag, mag)
  return jnp.where(jnp.isfinite(x), out, x).astype(dtype)


def round_to(x: jax.Array, dtype: Any, bits: jax.Array | None) -> jax.Array:
  """Stochastic rounding of `x` to `dtype` when `bits` are given, else round-to-nearest."""
  return x.astype(dtype) if bits is None else stochastic_round(x, dtype, bits)
