"""8-bit state with float8 E4M3 codes (`state_dtype=jnp.float8_e4m3fn`): block-wise absmax
as for int8 state, codes `round(448 * x / absmax)` (the square root for second moments),
stochastically rounded on every write. References: NumPy with ml_dtypes' float8_e4m3fn
(nearest rounding) and float32 state on the same problems. Its temporary memory is checked
with the other state dtypes in tests/test_lowp.py::test_no_hidden_float32_copies."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from test_lowp import FACTORIES, _mlp, _state_bytes, _train, np_quantize

import gradtx
from gradtx.numerics import quantization as Q
from gradtx.numerics import storage
from gradtx.numerics.rounding import element_bits, stochastic_round

E4M3 = jnp.float8_e4m3fn


def np_e4m3(x: np.ndarray, signed: bool, block: tuple) -> np.ndarray:
  """Per tile absmax; codes 448 * x / absmax (448 * sqrt(x / absmax) unsigned), rounded to
  the nearest float8 E4M3; back to values."""
  _, _, scale = np_quantize(x, signed, block)
  xn = x.astype(np.float64) / np.where(scale > 0, scale, 1)
  y = xn if signed else np.sqrt(xn)
  codes = (y * 448).astype(np.float32).astype(ml_dtypes.float8_e4m3fn).astype(np.float64) / 448
  return (codes if signed else codes**2) * scale


@pytest.mark.parametrize("shape", [(4100,), (64, 100), (3, 40, 70)])
@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
def test_e4m3_quantization_against_numpy(shape, signed):
  rng = np.random.default_rng(sum(shape))
  x = rng.standard_normal(shape) * 10.0 ** rng.uniform(-6, 1, shape)
  x = (x if signed else np.abs(x)).astype(np.float32)
  q = Q.quantize(jnp.asarray(x), signed, fmt="e4m3")
  assert q.codes.shape == shape and q.codes.dtype == E4M3 and q.fmt == "e4m3"
  back = np.asarray(Q.dequantize(q), np.float64)
  np.testing.assert_allclose(back, np_e4m3(x, signed, q.block), rtol=2e-6, atol=1e-30)
  # E4M3 keeps 3 fraction bits: relative error <= 2^-4 on the code (twice that squared)
  _, _, scale = np_quantize(x, signed, q.block)
  normal = np.abs(x) >= scale * (2.0**-6 / 448 if signed else (2.0**-6 / 448) ** 2)
  rel = np.abs(back - x)[normal] / np.abs(x)[normal]
  assert np.max(rel) <= (2.0**-4 if signed else 2 * 2.0**-4 + 2.0**-8) * (1 + 1e-5)


def test_e4m3_writes_are_stochastically_rounded_and_unbiased():
  x = jnp.full((64, 128), 0.3).at[0, 0].set(1.0)  # first block's absmax 1: 0.3 is between
  # two codes there (the block is 16 x 128, `block_geometry`)
  assert Q.block_geometry(x.shape) == (16, 128)
  like = Q.quantize(jnp.ones((64, 128)), False, fmt="e4m3")
  outs = np.stack(
    [np.asarray(Q.dequantize(storage.store(x, like, jnp.int32(i)))) for i in range(64)]
  )
  first = outs[:, 1:16, :]
  values = np.unique(first)
  assert values.size == 2 and values[0] < 0.3 < values[1]
  assert abs(first.mean() - 0.3) < 1e-3
  again = storage.store(x, like, jnp.int32(5))
  np.testing.assert_array_equal(np.asarray(Q.dequantize(again)), outs[5])


def test_stochastic_round_to_a_float8_without_infinities():
  x = jnp.full((100_000,), 1.0 + 2.0**-5, jnp.float32)  # between 1 and 1 + 2^-3 in E4M3
  r = np.asarray(stochastic_round(x, E4M3, element_bits(x.shape, 3)), np.float64)
  assert set(np.unique(r)) == {1.0, 1.125}
  assert abs(r.mean() - float(x[0])) < 4 * 0.125 / np.sqrt(x.size)
  top = jnp.array([448.0, 440.0, -448.0], jnp.float32)  # the largest finite value saturates
  out = np.asarray(stochastic_round(top, E4M3, element_bits(top.shape, 1)), np.float64)
  assert np.all(np.isfinite(out)) and np.all(np.abs(out) <= 448)


def test_float8_stochastic_rounding_lands_on_a_neighbour_without_bias():
  """Normal and subnormal E4M3 values: every result is one of the two E4M3 neighbours of x
  (ml_dtypes' grid), and over 20000 draws the mean is within 4 standard errors of x."""
  grid = np.arange(256, dtype=np.uint8).view(ml_dtypes.float8_e4m3fn).astype(np.float64)
  grid = np.unique(grid[np.isfinite(grid)])
  rng = np.random.default_rng(0)
  x = (rng.standard_normal(120) * 10.0 ** rng.uniform(-5, 2.5, 120)).astype(np.float32)
  x = x[np.abs(x) < 448]
  draws = 20_000
  xs = jnp.asarray(np.repeat(x, draws))
  r = np.asarray(stochastic_round(xs, E4M3, element_bits(xs.shape, 9)), np.float64)
  r = r.reshape(len(x), draws)
  lo = grid[np.searchsorted(grid, x, side="right") - 1]
  hi = grid[np.searchsorted(grid, x, side="left")]
  assert np.all((r == lo[:, None]) | (r == hi[:, None]))
  assert np.any(np.abs(x) < 2.0**-6) and np.any(np.abs(x) > 1)  # subnormal and normal cases
  stderr = np.sqrt((hi - x) * (x - lo)) / np.sqrt(draws)  # Bernoulli between lo and hi
  assert np.all(np.abs(r.mean(axis=1) - x) <= 4 * stderr + 1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_float8_state_trains_like_float32_state(name):
  params, loss = _mlp()
  ref, s32 = _train(FACTORIES[name](None), params, loss)
  low, s = _train(FACTORIES[name](E4M3), params, loss)
  assert low <= 1.05 * ref, (low, ref)
  assert _state_bytes(s) / _state_bytes(s32) <= 0.27
  quantized = [x for x in jax.tree.leaves(s, is_leaf=Q.is_quantized) if Q.is_quantized(x)]
  assert quantized and all(q.fmt == "e4m3" and q.codes.dtype == E4M3 for q in quantized)


def test_float8_state_odd_leaves_jit_vmap_and_pickle():
  import pickle

  params = {"big": jnp.linspace(-1, 1, 8192).reshape(64, 128), "tiny": jnp.ones(3),
            "scalar": jnp.asarray(2.0), "huge": jnp.full((4096,), 1e18)}  # fmt: skip
  tx = gradtx.adam(1e-2, state_dtype=E4M3)
  state = tx.init(params)
  grads = jax.tree.map(lambda p: p * 0.5 + 1.0, params)
  u, state = jax.jit(tx.update)(grads, state, params)
  for k, p in params.items():
    assert u[k].shape == p.shape and u[k].dtype == p.dtype
    assert np.all(np.isfinite(np.asarray(u[k]))), k
  assert Q.is_quantized(state[0].nu["huge"]) and state[0].mu["tiny"].dtype == jnp.float32
  back = pickle.loads(pickle.dumps(jax.device_get(state)))
  for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(state)):
    np.testing.assert_array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32))
  lrs = jnp.array([1e-3, 1e-2])
  out = jax.vmap(lambda lr: gradtx.adam(lr, state_dtype=E4M3).update(grads, state, params)[0])(lrs)
  np.testing.assert_allclose(np.asarray(out["big"][1]), 10 * np.asarray(out["big"][0]), rtol=1e-2)


@pytest.mark.parametrize(
  "bad", [jnp.float8_e5m2, jnp.float8_e4m3fnuz, jnp.float8_e4m3b11fnuz, jnp.float8_e5m2fnuz]
)
def test_other_float8_state_dtypes_are_refused_at_construction(bad):
  with pytest.raises(ValueError, match=r"state_dtype=.*float8_e4m3fn"):
    gradtx.adam(0.1, state_dtype=bad)


def test_complex_params_with_float8_state_are_refused():
  with pytest.raises(ValueError, match="needs real params"):
    gradtx.adam(0.1, state_dtype=E4M3).init({"z": jnp.ones(5000, jnp.complex64)})


@pytest.mark.slow
def test_digits_mlp_with_float8_state_within_half_a_point():
  import importlib
  import sys

  sys.path.insert(0, "benchmarks/..")
  bench = importlib.import_module("benchmarks.lowp_modes")
  ref = np.mean([bench.digits_accuracy(gradtx.adam(1e-3), jnp.float32, seed=s) for s in range(3)])
  tx = gradtx.adam(1e-3, state_dtype=E4M3)
  acc = np.mean([bench.digits_accuracy(tx, jnp.float32, seed=s) for s in range(3)])
  assert abs(acc - ref) <= 0.5, (acc, ref)
