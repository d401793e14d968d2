"""Reading and writing per-parameter optimizer state in its storage format.

The primitives compute in `compute_dtype` (>= float32) and keep state in the
state dtype. `load(leaf, dtype)` gives a state leaf in the compute dtype and
`store(value, like=leaf)` writes a new value back in `leaf`'s format:

* float32 / float64 / complex state: a plain cast (exact for the default policy).
* bfloat16 / float16 state: **stochastic rounding** of the write, so a moving
  average keeps its small increments on average (round-to-nearest discards every
  increment under half an ulp: a bfloat16 `nu` with `b2 = 0.999` would stop
  following `g^2`). The random bits hash each element's index with the extra
  arguments (the gradient, the step count): reproducible, and new every step.
* 8-bit state (`state_dtype=jnp.int8`, or `jnp.float8_e4m3fn` for float8 codes; a
  `QuantizedArray`): dequantize on load, block-wise re-quantize on store with the
  leaf's format, map and block shape. Other float8 dtypes are refused: without
  per-block scales a second moment underflows them.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx.numerics.quantization import (
  MIN_QUANTIZED_SIZE,
  check_quantizable,
  dequantize,
  is_quantized,
  quantize,
)
from gradtx.numerics.rounding import element_bits, stochastic_round

__all__ = [
  "load",
  "store",
  "is_low_precision",
  "is_quantized_dtype",
  "check_state_dtype",
  "quantized_zeros",
]


def is_low_precision(dtype: Any) -> bool:
  """A real floating dtype narrower than float32 (bfloat16, float16, float8_*)."""
  dtype = jnp.dtype(dtype)
  return bool(jnp.issubdtype(dtype, jnp.floating)) and dtype.itemsize < 4


# state_dtype -> the `QuantizedArray` format it selects (8-bit block-wise state)
_QUANTIZED_FORMATS = {jnp.dtype(jnp.int8): "dynamic", jnp.dtype(jnp.float8_e4m3fn): "e4m3"}


def is_quantized_dtype(dtype: Any) -> bool:
  """`state_dtype=jnp.int8` (dynamic map) or `jnp.float8_e4m3fn` (E4M3 codes) selects
  8-bit block-wise quantized state."""
  return dtype is not None and jnp.dtype(dtype) in _QUANTIZED_FORMATS


def check_state_dtype(owner: str, value: Any, name: str = "state_dtype") -> None:
  """At construction: `value` is None, a floating / complex dtype of 16 bits or more, or
  int8 / float8_e4m3fn (8-bit block-wise state)."""
  if value is None:
    return
  try:
    dtype = jnp.dtype(value)
  except TypeError:
    raise TypeError(f"{owner}: {name}={value!r} is invalid; expected a dtype.") from None
  if is_quantized_dtype(dtype):
    return
  if jnp.issubdtype(dtype, jnp.inexact) and dtype.itemsize >= 2:
    return
  raise ValueError(
    f"{owner}: {name}={value!r} is invalid; expected a floating-point or complex dtype "
    "of 16 bits or more, or jnp.int8 / jnp.float8_e4m3fn for 8-bit block-wise quantized "
    "state (other float8 dtypes have no per-block scale: second moments would underflow)."
  )


def quantized_zeros(p: Any, value: Any, real: bool, dtype: Any = jnp.int8) -> Any:
  """The initial 8-bit state leaf for param `p` filled with `value`: a `QuantizedArray`
  in `dtype`'s format (signed; unsigned for `real` statistics of `|g|^2`), or float32 for
  small leaves."""
  check_quantizable(p, f"a leaf of shape {tuple(jnp.shape(p))}")
  full = jnp.full(jnp.shape(p), value, jnp.float32)
  if full.size < MIN_QUANTIZED_SIZE:
    return full
  return quantize(full, signed=not real, fmt=_QUANTIZED_FORMATS[jnp.dtype(dtype)])


def load(leaf: Any, dtype: Any) -> jax.Array:
  """A state leaf as an array of `dtype` (the compute dtype)."""
  if is_quantized(leaf):
    return dequantize(leaf).astype(dtype)
  return leaf if leaf.dtype == dtype else leaf.astype(dtype)


def store(value: jax.Array, like: Any, *entropy: Any) -> Any:
  """`value` written in the storage format of the state leaf `like`.

  `entropy` (arrays shaped like `value` or scalars: the gradient, the step
  count) seeds the stochastic rounding of low-precision float state.
  """
  if is_quantized(like):
    bits = element_bits(value.shape, value, *entropy) if like.fmt == "e4m3" else None
    return quantize(value, like.signed, like.block, like.fmt, bits)
  dtype = like.dtype
  if value.dtype == dtype:
    return value
  if (
    is_low_precision(dtype)
    and jnp.dtype(value.dtype).itemsize > jnp.dtype(dtype).itemsize
    and not jnp.iscomplexobj(value)
  ):
    return stochastic_round(value, dtype, element_bits(value.shape, value, *entropy))
  return value.astype(dtype)
