"""8-bit block-wise quantized optimizer state (Dettmers et al., 2022, "8-bit Optimizers
via Block-wise Quantization").

A state leaf of `n` float32 numbers is stored as `n` uint8 codes into a fixed
256-entry *dynamic quantization map* plus one float32 `absmax` per block of
`BLOCK_SIZE` elements: `x ~ map[code] * absmax(block)`. The map is the paper's
dynamic tree quantization: for each decade `10^-k` (k = 0..6) a set of values
`10^-k * f`, `f` the midpoints of a uniform grid on [0.1, 1], with more values
in the larger decades (64, 32, ..., 1 per sign), plus exact 0 and 1. A signed
map (first moments, velocities) and an unsigned one (second moments and other
non-negative statistics; the sign bit becomes one more bit of fraction) are
used. The normalised value is rounded to the nearest map entry, computed from
the map's structure (`encode` / `decode`: elementwise, so XLA fuses them and no
float32 copy of a leaf is materialized).

Blocks are tiles of the last two axes (`rows x cols`, `rows * cols =
BLOCK_SIZE` where the last axis is shorter than a block), so `absmax` has the
param's rank and the same leading axes: it is sharded like the params along
them, and a row-sharded matrix needs no communication to (de)quantize.
Leaves with fewer than `MIN_QUANTIZED_SIZE` elements stay float32, as in
bitsandbytes (their bytes are negligible, and biases and norms are sensitive).

A second 8-bit format, `fmt="e4m3"` (`state_dtype=jnp.float8_e4m3fn`), stores
float8 E4M3 codes with the same per-block absmax: `x ~ absmax * c / 448` for
signed state, and `x ~ absmax * (c / 448)^2` for non-negative statistics (the
code holds the square root, so a second moment keeps twice E4M3's dynamic range:
`2^-9 / 448` squared is 1.9e-11 of the block's absmax, where the dynamic map's
smallest nonzero unsigned entry is 3.25e-7; relative resolution 2^-4 on the root).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradtx.core.validate import LeafTypeError
from gradtx.numerics.rounding import round_to

__all__ = [
  "QuantizedArray",
  "dynamic_map",
  "quantize",
  "dequantize",
  "encode",
  "decode",
  "block_geometry",
  "check_quantizable",
  "is_quantized",
  "BLOCK_SIZE",
  "MIN_QUANTIZED_SIZE",
  "FORMATS",
]

BLOCK_SIZE = 2048
MIN_QUANTIZED_SIZE = 4096
_DECADES = 7
FORMATS = ("dynamic", "e4m3")  # uint8 codes into `dynamic_map`; float8_e4m3fn codes
_E4M3_MAX = 448.0


@functools.cache
def dynamic_map(signed: bool) -> np.ndarray:
  """The 256 sorted float32 values of the dynamic quantization map (see module doc)."""
  values = [0.0, 1.0]
  for i in range(_DECADES):  # decade 10^(i - 6): 2^i values per sign (2^(i+1) unsigned)
    count = 2**i if signed else 2 ** (i + 1)
    edges = np.linspace(0.1, 1.0, count + 1)
    mids = (edges[:-1] + edges[1:]) / 2 * 10.0 ** (i - (_DECADES - 1))
    values += list(mids) + (list(-mids) if signed else [])
  out = np.sort(np.asarray(values, np.float64)).astype(np.float32)
  assert out.size == 256 and np.unique(out).size == 256
  return out


def block_geometry(shape: tuple, block_size: int = BLOCK_SIZE) -> tuple[int, int]:
  """`(rows, cols)` of a block: `cols` along the last axis, `rows` along the one before."""
  if not shape:
    return 1, 1
  cols = min(block_size, shape[-1]) or 1
  rows = 1 if len(shape) < 2 else max(1, min(block_size // cols, shape[-2]))
  return rows, cols


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class QuantizedArray:
  """A float32 array stored as 8-bit `codes` (its shape) and float32 `absmax` per block.

  `signed` picks the map, `block` is `(rows, cols)` of a block, `fmt` the code format
  (`"dynamic"`: uint8 indices into `dynamic_map`; `"e4m3"`: float8_e4m3fn values). A
  pytree whose children are the two arrays, so it jits, vmaps, shards and checkpoints
  like any state; `shape`/`dtype` describe the value it stands for (float32).
  """

  codes: jax.Array
  absmax: jax.Array
  signed: bool = dataclasses.field(metadata=dict(static=True))
  block: tuple = dataclasses.field(metadata=dict(static=True))
  fmt: str = dataclasses.field(default="dynamic", metadata=dict(static=True))

  @property
  def shape(self) -> tuple:
    return tuple(self.codes.shape)

  @property
  def dtype(self) -> jnp.dtype:
    return jnp.dtype(jnp.float32)

  @property
  def ndim(self) -> int:
    return len(self.shape)

  @property
  def size(self) -> int:
    return math.prod(self.shape)

  def astype(self, dtype: Any):
    raise LeafTypeError(
      "this transformation does not support 8-bit quantized state (state_dtype=int8 or "
      "float8_e4m3fn); "
      "it is supported by scale_by_adam (adam, adamw, nadam, nadamw, lamb), "
      "scale_by_amsgrad, scale_by_adamax, trace (sgd, lars), scale_by_rms / "
      "scale_by_stddev (rmsprop) and scale_by_rss (adagrad)."
    )


def is_quantized(x: Any) -> bool:
  return isinstance(x, QuantizedArray)


def _as_matrix_shape(shape: tuple) -> tuple:
  """`shape` with a unit row axis for vectors, so 1-d and n-d leaves tile alike."""
  return (1,) + tuple(shape) if len(shape) == 1 else tuple(shape)


def _block_absmax(x: jax.Array, block: tuple) -> jax.Array:
  rows, cols = block
  mshape = _as_matrix_shape(x.shape)
  xm = jnp.abs(x).reshape(mshape)
  r, c = mshape[-2:]
  pad_r, pad_c = -r % rows, -c % cols
  if pad_r or pad_c:
    xm = jnp.pad(xm, [(0, 0)] * (len(mshape) - 2) + [(0, pad_r), (0, pad_c)])
  lead = mshape[:-2]
  tiles = xm.reshape(lead + ((r + pad_r) // rows, rows, (c + pad_c) // cols, cols))
  absmax = jnp.max(tiles, axis=(-3, -1))
  return absmax.reshape(absmax.shape[1:]) if x.ndim == 1 else absmax


def _per_element(absmax: jax.Array, shape: tuple, block: tuple) -> jax.Array:
  """Each element's block scale (a broadcast of `absmax`), shaped `shape`."""
  rows, cols = block
  mshape = _as_matrix_shape(shape)
  a = absmax.reshape(mshape[:-2] + (-1, absmax.shape[-1]))
  a = jnp.repeat(jnp.repeat(a, rows, axis=-2)[..., : mshape[-2], :], cols, axis=-1)
  return a[..., : mshape[-1]].reshape(shape)


def quantize(
  x: jax.Array,
  signed: bool,
  block: tuple | None = None,
  fmt: str = "dynamic",
  bits: jax.Array | None = None,
) -> QuantizedArray:
  """`x` (real) as a `QuantizedArray`: per-block absmax, then per element the nearest map
  entry (`fmt="dynamic"`) or the float8 E4M3 value (`"e4m3"`: nearest, or stochastically
  rounded with the random uint32 `bits` when given)."""
  x = jnp.asarray(x, jnp.float32)
  block = tuple(block or block_geometry(x.shape))
  absmax = _block_absmax(x, block)
  scale = _per_element(absmax, x.shape, block)
  xn = x / jnp.where(scale > 0, scale, 1.0)
  codes = encode(xn, signed) if fmt == "dynamic" else _encode_e4m3(xn, signed, bits)
  return QuantizedArray(codes, absmax, signed, block, fmt)


def _encode_e4m3(xn: jax.Array, signed: bool, bits: jax.Array | None) -> jax.Array:
  """`xn` in [-1, 1] ([0, 1] unsigned: its square root) scaled to E4M3's range, rounded
  to float8_e4m3fn (stochastically when `bits` are given)."""
  y = (xn if signed else jnp.sqrt(jnp.maximum(xn, 0.0))) * _E4M3_MAX
  return round_to(y, jnp.float8_e4m3fn, bits)


def _decode_e4m3(codes: jax.Array, signed: bool) -> jax.Array:
  y = codes.astype(jnp.float32) * jnp.float32(1.0 / _E4M3_MAX)
  return y if signed else y * y


def _decade_power(a: jax.Array) -> tuple:
  """`(d, 10^(d-6))`: the decade `10^(d-7) <= a < 10^(d-6)` of the map holding `a` (0..6)."""
  d = sum((a >= jnp.float32(10.0 ** (j - _DECADES))).astype(jnp.int32) for j in range(1, _DECADES))
  power = jnp.float32(10.0 ** -(_DECADES - 1))
  for j in range(1, _DECADES):
    power = jnp.where(d >= j, jnp.float32(10.0 ** (j - _DECADES + 1)), power)
  return d, power


def encode(xn: jax.Array, signed: bool) -> jax.Array:
  """The code of the map entry nearest to each `xn` in [-1, 1] ([0, 1] unsigned).

  The decade `d` of `|xn|` and the rounded position on its uniform grid give the
  nearest entry inside the decade; at the decade's edges the adjacent entry of the
  next decade down (or 0) and up (or 1) is compared too, in closed form. Elementwise
  arithmetic (no table lookup, no search loop): it fuses with the producer of `xn`.
  Equal to a nearest-entry search of `dynamic_map(signed)` up to float32 ties.
  """
  a = jnp.abs(xn) if signed else jnp.maximum(xn, 0.0)
  d, power = _decade_power(a)
  n = jnp.left_shift(1 if signed else 2, d)
  nf = n.astype(jnp.float32)
  c = jnp.clip(jnp.round((a / power - 0.1) / 0.9 * nf - 0.5), 0, nf - 1)
  inside = power * (0.1 + 0.9 * (c + 0.5) / nf)
  below = jnp.where(d == 0, 0.0, power * (0.01 + 0.09 * (1.0 - 1.0 / nf)))  # 0.1 * last below
  above = jnp.where(d == _DECADES - 1, 1.0, power * (1.0 + 4.5 / (2.0 * nf)))  # first above
  if signed:  # -1 is not in the signed map
    above = jnp.where(xn < 0, jnp.inf, above)
  e_in, e_lo, e_hi = jnp.abs(a - inside), jnp.abs(a - below), jnp.abs(a - above)
  step = jnp.where((c == 0) & (e_lo < e_in), -1, jnp.where((c == nf - 1) & (e_hi < e_in), 1, 0))
  i = n + c.astype(jnp.int32) + step  # magnitude index: 0 (signed) / 1 (unsigned) is zero
  k = jnp.where(xn < 0, 127 - i, 127 + i) if signed else i - 1
  return jnp.clip(k, 0, 255).astype(jnp.uint8)


def decode(codes: jax.Array, signed: bool) -> jax.Array:
  """`map[codes]` computed from the map's structure rather than looked up: elementwise
  arithmetic, which XLA fuses into (and recomputes in) every consumer, so no float32
  copy of a dequantized leaf is materialized. Equal to `dynamic_map(signed)[codes]` to
  float32 rounding."""
  k = jnp.asarray(codes).astype(jnp.int32)
  if signed:  # 0..126 negative, 127 zero, 128..254 positive, 255 one
    i = jnp.where(k >= 128, k - 128, 126 - k) + 1  # in [1, 128): decade d holds 2^d values
    d = sum((i >= 2**j).astype(jnp.int32) for j in range(1, _DECADES))
    n = jnp.left_shift(1, d)
  else:  # 0 zero, 1..254 positive, 255 one
    i = k + 1  # in [2, 256): decade d holds 2^(d+1)
    d = sum((i >= 2**j).astype(jnp.int32) for j in range(2, _DECADES + 1))
    n = jnp.left_shift(2, d)
  frac = 0.1 + 0.9 * ((i - n).astype(jnp.float32) + 0.5) / n.astype(jnp.float32)
  power = jnp.float32(10.0 ** -(_DECADES - 1))
  for j in range(1, _DECADES):
    power = jnp.where(d >= j, jnp.float32(10.0 ** (j - _DECADES + 1)), power)
  value = frac * power
  if signed:
    value = jnp.where(k < 127, -value, value)
  zero = 127 if signed else 0
  return jnp.where(k == 255, 1.0, jnp.where(k == zero, 0.0, value))


def dequantize(q: QuantizedArray) -> jax.Array:
  """The float32 values `map[code] * absmax(block)` (or the E4M3 code's value)."""
  value = decode(q.codes, q.signed) if q.fmt == "dynamic" else _decode_e4m3(q.codes, q.signed)
  return value * _per_element(q.absmax, q.shape, q.block)


def check_quantizable(p: Any, what: str = "params") -> None:
  """8-bit state needs real floating-point params."""
  if jnp.issubdtype(jnp.result_type(p), jnp.complexfloating):
    raise ValueError(
      f"state_dtype=int8 (8-bit quantized state) needs real params; {what} "
      f"has dtype {jnp.result_type(p)}: use state_dtype=None or a float dtype."
    )
