"""Low precision without loss: compensated updates for bfloat16 / float16 params,
stochastically rounded bfloat16 state, 8-bit block-wise quantized state.

References: NumPy float64 written from the papers (Dettmers et al., 2022, block-wise
dynamic quantization; stochastic rounding's expectation), torch-optimi's Kahan
summation (`optimi.AdamW(kahan_sum=True)` on bfloat16 torch params, compared by final
error since the roundings differ), and float32 runs of the same problems. The 8-bit path
against bitsandbytes' own 8-bit AdamW (its CPU backend) is in tests/test_lowp_bitsandbytes.py.
"""

from __future__ import annotations

import pickle

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import gradtx
from gradtx.numerics import quantization as Q
from gradtx.numerics.rounding import element_bits, stochastic_round

# --- NumPy references ------------------------------------------------------------------------


def np_dynamic_map(signed: bool) -> np.ndarray:
  """Dettmers et al. (2022), dynamic tree quantization with 8 bits: per decade 10^-k
  (k = 6..0) the midpoints of a uniform grid on [0.1, 1] (2^(6-k) of them per sign, twice
  as many unsigned), plus 0 and 1."""
  vals = [0.0, 1.0]
  for k in range(6, -1, -1):
    m = 2 ** (6 - k) * (1 if signed else 2)
    grid = 0.1 + 0.9 * np.arange(m + 1) / m
    mids = 10.0 ** -k * (grid[:-1] + grid[1:]) / 2
    vals += list(mids) + (list(-mids) if signed else [])
  return np.sort(np.array(vals))


def np_quantize(x: np.ndarray, signed: bool, block: tuple):
  """Per (rows x cols) tile of the last two axes: absmax, then the nearest map entry."""
  table = np_dynamic_map(signed)
  x2 = x.reshape((1,) + x.shape if x.ndim == 1 else x.shape).astype(np.float64)
  r, c = block
  R, C = x2.shape[-2:]
  scale = np.zeros_like(x2)
  for i in range(0, R, r):
    for j in range(0, C, c):
      tile = x2[..., i:i + r, j:j + c]
      scale[..., i:i + r, j:j + c] = np.max(np.abs(tile), axis=(-2, -1), keepdims=True)
  xn = x2 / np.where(scale > 0, scale, 1)
  codes = np.argmin(np.abs(xn[..., None] - table), axis=-1)
  return codes.reshape(x.shape), (table[codes] * scale).reshape(x.shape), scale.reshape(x.shape)


def np_roundtrip(x, signed, block):
  return np_quantize(x, signed, block)[1]


def _bf16(x):
  return np.asarray(x, np.float64).astype(ml_dtypes.bfloat16).astype(np.float64)


# --- quantization ----------------------------------------------------------------------------

@pytest.mark.parametrize("signed", [True, False])
def test_dynamic_map_matches_the_paper(signed):
  np.testing.assert_allclose(Q.dynamic_map(signed), np_dynamic_map(signed), rtol=1e-7)
  codes = jnp.arange(256, dtype=jnp.uint8)
  np.testing.assert_allclose(np.asarray(Q.decode(codes, signed)), np_dynamic_map(signed),
                             rtol=2e-7)


@pytest.mark.parametrize("shape", [(4100,), (64, 100), (3, 40, 70), (2, 2048)])
@pytest.mark.parametrize("signed", [True, False])
def test_blockwise_quantization_against_numpy(shape, signed):
  rng = np.random.default_rng(sum(shape))
  x = rng.standard_normal(shape) * 10.0 ** rng.uniform(-4, 1, shape)
  x = (x if signed else np.abs(x)).astype(np.float32)
  q = Q.quantize(jnp.asarray(x), signed)
  assert q.codes.shape == shape and q.codes.dtype == jnp.uint8
  assert q.absmax.ndim == len(shape) and q.absmax.dtype == jnp.float32
  rows, cols = q.block
  assert 256 <= rows * cols <= 2048
  codes_ref, back_ref, scale = np_quantize(x, signed, q.block)
  back = np.asarray(Q.dequantize(q), np.float64)
  np.testing.assert_allclose(back, back_ref, rtol=1e-6, atol=1e-30)
  assert np.mean(np.asarray(q.codes) == codes_ref) > 0.999  # float32 ties may differ
  # round trip bound: half the largest gap of the map (at the top, 0.9/64/2) times absmax
  gap = np.max(np.diff(np_dynamic_map(signed))) / 2
  assert np.all(np.abs(back - x) <= gap * scale * (1 + 1e-5) + 1e-30)


def test_zero_nan_and_constant_blocks():
  x = jnp.zeros((4096,)).at[5].set(3.0)
  q = Q.quantize(x, True)
  back = np.asarray(Q.dequantize(q))
  assert back[5] == 3.0 and np.all(back[np.arange(4096) != 5] == 0)
  assert np.all(np.asarray(Q.dequantize(Q.quantize(jnp.zeros(5000), False))) == 0)


# --- stochastic rounding ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_stochastic_rounding_is_unbiased_and_reproducible(dtype):
  x = jnp.full((200_000,), 1.0 + 2.0 ** -10 + 2.0 ** -13, jnp.float32)
  r = stochastic_round(x, dtype, element_bits(x.shape, 7))
  lo, hi = np.unique(np.asarray(r, np.float64))
  assert lo < float(x[0]) < hi
  assert abs(np.mean(np.asarray(r, np.float64)) - float(x[0])) < 4 * (hi - lo) / np.sqrt(x.size)
  r2 = stochastic_round(x, dtype, element_bits(x.shape, 7))
  assert np.asarray(r).tobytes() == np.asarray(r2).tobytes()
  special = jnp.array([jnp.inf, -jnp.inf, jnp.nan, 0.0, 1.0], jnp.float32)
  out = np.asarray(stochastic_round(special, dtype, element_bits(special.shape, 1)), np.float64)
  np.testing.assert_array_equal(out, [np.inf, -np.inf, np.nan, 0.0, 1.0])


# --- low-precision params ---------------------------------------------------------------------

def _quadratic(tx, dtype, steps=3000, n=512):
  target = np.random.default_rng(0).standard_normal(n).astype(np.float32)

  def loss(p):
    return jnp.mean(jnp.square(p.astype(jnp.float32) - target))

  def body(carry, _):
    p, s = carry
    u, s = tx.update(jax.grad(loss)(p), s, p)
    return (gradtx.apply_updates(p, u), s), None
  p0 = jnp.zeros(n, dtype)
  (p, s), _ = jax.jit(lambda c: jax.lax.scan(body, c, None, length=steps))((p0, tx.init(p0)))
  assert p.dtype == dtype
  return np.asarray(p, np.float64)


def _err_over_floor(p, p32, dtype=jnp.bfloat16):
  floor = np.mean((np.asarray(jnp.asarray(p32, dtype), np.float64) - p32) ** 2)
  return np.mean((p - p32) ** 2) / floor


OPTS = {"adam": lambda: gradtx.adam(1e-2), "adamw": lambda: gradtx.adamw(1e-2),
        "sgd+momentum": lambda: gradtx.sgd(0.1, momentum=0.9)}


@pytest.mark.parametrize("name", sorted(OPTS))
def test_named_optimizers_on_bfloat16_params_reach_the_rounding_floor(name):
  p32 = _quadratic(OPTS[name](), jnp.float32)
  ratio = _err_over_floor(_quadratic(OPTS[name](), jnp.bfloat16), p32)
  assert ratio < 4, ratio
  # without the final stage the same chain stalls far above the floor
  plain = gradtx.chain(*OPTS[name]().transformation().transforms[:-1])
  assert _err_over_floor(_quadratic(plain, jnp.bfloat16), p32) > 50


@pytest.mark.slow
@pytest.mark.parametrize("method", ["kahan", "stochastic", "master"])
@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16], ids=["bf16", "f16"])
def test_each_method_in_a_user_chain(method, dtype):
  def tx():
    return gradtx.chain(gradtx.scale_by_adam(), gradtx.scale_by_learning_rate(1e-2),
                        gradtx.compensated_updates(method))
  p32 = _quadratic(tx(), jnp.float32)
  # stochastic rounding's floor is a variance: f(1 - f) ulp^2 against nearest rounding's
  # min(f, 1 - f)^2, twice as large on average, plus Adam's jitter around the optimum
  bound = 5 if method == "stochastic" else 3
  assert _err_over_floor(_quadratic(tx(), dtype), p32, dtype) < bound
  state = tx().init(jnp.zeros(8, dtype))[-1]
  buf = {"kahan": dtype, "master": jnp.float32, "stochastic": None}[method]
  assert (state.buffer is None) if buf is None else state.buffer.dtype == buf


@pytest.mark.slow
def test_kahan_against_torch_optimi():
  """optimi.AdamW(kahan_sum=True) on bfloat16 torch params, same problem: both end near the
  bfloat16 floor of the float32 solution (the roundings differ, so the errors are compared)."""
  torch = pytest.importorskip("torch")
  optimi = pytest.importorskip("optimi")
  target = np.random.default_rng(0).standard_normal(512).astype(np.float32)
  w = torch.zeros(512, dtype=torch.bfloat16, requires_grad=True)
  opt = optimi.AdamW([w], lr=1e-2, weight_decay=0.0, kahan_sum=True)
  t = torch.tensor(target)
  for _ in range(3000):
    opt.zero_grad()
    torch.mean((w.float() - t) ** 2).backward()
    opt.step()
  p_torch = w.detach().float().numpy().astype(np.float64)
  tx = gradtx.chain(gradtx.scale_by_adam(), gradtx.scale_by_learning_rate(1e-2),
                    gradtx.compensated_updates("kahan"))
  p32 = _quadratic(gradtx.adam(1e-2), jnp.float32)
  ours, theirs = _err_over_floor(_quadratic(tx, jnp.bfloat16), p32), _err_over_floor(p_torch, p32)
  assert theirs < 8 and ours < 4 and ours < 2 * theirs, (ours, theirs)


def test_updates_are_the_deltas_apply_updates_needs():
  p = jnp.array([1.0, 2.0, 256.0, -3.0], jnp.bfloat16)
  tx = gradtx.chain(gradtx.scale_by_learning_rate(1.0), gradtx.compensated_updates("kahan"))
  s = tx.init(p)
  g = jnp.array([1e-3, 1e-3, 0.3, -1e-3], jnp.bfloat16)
  total = np.zeros(4)
  for _ in range(50):
    u, s = tx.update(g, s, p)
    assert u.dtype == jnp.bfloat16
    p = gradtx.apply_updates(p, u)
    total += -np.asarray(g, np.float64)
  exact = np.array([1.0, 2.0, 256.0, -3.0]) + total
  # the compensated sum holds what bfloat16 rounds off: p + c is the exact sum
  np.testing.assert_allclose(np.asarray(p, np.float64) + np.asarray(s[-1].buffer, np.float64),
                             exact, rtol=1e-3)
  assert np.all(np.abs(np.asarray(p, np.float64) - exact) <= 2 ** -8 * np.abs(exact))


def test_float32_params_are_untouched_and_no_params_pass_through():
  p = jnp.array([1.0, 2.0])
  g = jnp.array([0.1, -0.2])
  a, _ = gradtx.adam(0.1).update(g, gradtx.adam(0.1).init(p), p)
  b, _ = gradtx.chain(gradtx.scale_by_adam(), gradtx.scale_by_learning_rate(0.1)).update(
      g, gradtx.chain(gradtx.scale_by_adam(), gradtx.scale_by_learning_rate(0.1)).init(p), p)
  assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
  pb = p.astype(jnp.bfloat16)
  tx = gradtx.compensated_updates("kahan")
  u, _ = tx.update(g.astype(jnp.bfloat16), tx.init(pb))
  np.testing.assert_array_equal(np.asarray(u), np.asarray(g.astype(jnp.bfloat16)))
  with pytest.raises(ValueError, match="method='round'"):
    gradtx.compensated_updates("round")


# --- low-precision and 8-bit state -------------------------------------------------------------

def _mlp(seed=0, n=256, d=64, hidden=64):
  rng = np.random.default_rng(seed)
  x = rng.standard_normal((n, d)).astype(np.float32)
  w = rng.standard_normal((d, 16)).astype(np.float32) / np.sqrt(d)
  y = np.tanh(x @ w) @ rng.standard_normal((16, 1)).astype(np.float32) / 4
  params = {"l1": {"w": rng.standard_normal((d, hidden)).astype(np.float32) / np.sqrt(d),
                   "b": np.zeros(hidden, np.float32)},
            "l2": {"w": rng.standard_normal((hidden, hidden)).astype(np.float32) / np.sqrt(hidden),
                   "b": np.zeros(hidden, np.float32)},
            "l3": {"w": rng.standard_normal((hidden, 1)).astype(np.float32) / np.sqrt(hidden),
                   "b": np.zeros(1, np.float32)}}

  def loss(p):
    h = jnp.tanh(x @ p["l1"]["w"] + p["l1"]["b"])
    h = jnp.tanh(h @ p["l2"]["w"] + p["l2"]["b"])
    return jnp.mean(jnp.square(h @ p["l3"]["w"] + p["l3"]["b"] - y))
  return jax.tree.map(jnp.asarray, params), loss


def _train(tx, params, loss, steps=60):
  def body(carry, _):
    p, s = carry
    u, s = tx.update(jax.grad(loss)(p), s, p)
    return (gradtx.apply_updates(p, u), s), None
  (p, s), _ = jax.jit(lambda c: jax.lax.scan(body, c, None, length=steps))((params, tx.init(params)))
  return float(loss(p)), s


def _state_bytes(state):
  return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(state) if jnp.ndim(x) > 0)


FACTORIES = {"adam": lambda sd: gradtx.adam(3e-3, state_dtype=sd),
             "amsgrad": lambda sd: gradtx.amsgrad(3e-3, state_dtype=sd),
             "sgd+momentum": lambda sd: gradtx.sgd(0.05, momentum=0.9, state_dtype=sd),
             "rmsprop": lambda sd: gradtx.rmsprop(1e-3, state_dtype=sd),
             "adagrad": lambda sd: gradtx.adagrad(0.05, state_dtype=sd)}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize("state_dtype", [jnp.bfloat16, jnp.int8], ids=["bf16", "int8"])
def test_low_precision_state_trains_like_float32_state(name, state_dtype):
  params, loss = _mlp()
  ref, s32 = _train(FACTORIES[name](None), params, loss)
  low, s = _train(FACTORIES[name](state_dtype), params, loss)
  assert low <= 1.05 * ref, (low, ref)  # not more than 5% worse (8-bit Adam ends 11% lower here)
  ratio = _state_bytes(s) / _state_bytes(s32)
  assert ratio <= (0.5 if state_dtype == jnp.bfloat16 else 0.27), ratio
  if state_dtype == jnp.int8:
    assert any(isinstance(x, Q.QuantizedArray) for x in
               jax.tree.leaves(s, is_leaf=lambda x: isinstance(x, Q.QuantizedArray)))


def test_eight_bit_adam_against_numpy():
  """The paper's 8-bit Adam in NumPy float64: dequantize m and v, update them, step with
  the updated (unquantized) moments, store them re-quantized block-wise; against gradtx's
  8-bit Adam: the same trajectory to float32 rounding."""
  lr, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-8
  rng = np.random.default_rng(3)
  p = rng.standard_normal((64, 96)).astype(np.float32)
  gs = [rng.standard_normal(p.shape).astype(np.float32) * 10.0 ** rng.uniform(-3, 0, p.shape)
        for _ in range(6)]
  tx = gradtx.adam(lr, state_dtype=jnp.int8)
  params, state = jnp.asarray(p), tx.init(jnp.asarray(p))
  block = state[0].mu.block
  m = np.zeros(p.shape)
  v = np.zeros(p.shape)
  ref = p.astype(np.float64)
  for t, g in enumerate(gs, start=1):
    u, state = tx.update(jnp.asarray(g), state, params)
    params = gradtx.apply_updates(params, u)
    m_new = b1 * m + (1 - b1) * g
    v_new = b2 * v + (1 - b2) * g.astype(np.float64) ** 2
    ref = ref - lr * (m_new / (1 - b1 ** t)) / (np.sqrt(v_new / (1 - b2 ** t)) + eps)
    m, v = np_roundtrip(m_new, True, block), np_roundtrip(v_new, False, block)
    # the stored moments: the same codes up to float32 ties at a decision boundary
    for q, ref_q in ((state[0].mu, m), (state[0].nu, v)):
      same = np.isclose(np.asarray(Q.dequantize(q), np.float64), ref_q, rtol=1e-5, atol=0)
      assert np.mean(same) > 0.995, np.mean(same)
  np.testing.assert_allclose(np.asarray(params, np.float64), ref, rtol=1e-4, atol=2e-4)


@pytest.mark.parametrize("state_dtype", [jnp.bfloat16, jnp.int8, jnp.float8_e4m3fn],
                         ids=["bf16", "int8", "e4m3"])
def test_no_hidden_float32_copies(state_dtype):
  params = {"w": jnp.ones((256, 256)), "v": jnp.ones((16384,)), "b": jnp.ones(256)}

  def temp(sd):
    tx = gradtx.adam(1e-3, state_dtype=sd)
    def step(g, s, p):
      u, s = tx.update(g, s, p)
      return gradtx.apply_updates(p, u), s
    c = jax.jit(step, donate_argnums=(1, 2)).lower(params, tx.init(params), params).compile()
    return c.memory_analysis().temp_size_in_bytes
  assert temp(state_dtype) <= temp(None)


@pytest.mark.slow
def test_quantized_state_checkpoints_vmaps_and_keeps_shapes(tmp_path):
  params = {"big": jnp.linspace(-1, 1, 8192).reshape(64, 128), "tiny": jnp.ones(3),
            "scalar": jnp.asarray(2.0), "huge": jnp.full((4096,), 1e18)}
  tx = gradtx.adam(1e-2, state_dtype=jnp.int8)
  state = tx.init(params)
  grads = jax.tree.map(lambda p: p * 0.5 + 1.0, params)
  u, state = jax.jit(tx.update)(grads, state, params)
  for k, p in params.items():
    assert u[k].shape == p.shape and u[k].dtype == p.dtype
    assert np.all(np.isfinite(np.asarray(u[k])))
  assert isinstance(state[0].mu["big"], Q.QuantizedArray) and state[0].mu["tiny"].dtype == jnp.float32
  assert state[0].mu["scalar"].shape == () and isinstance(state[0].nu["huge"], Q.QuantizedArray)
  # pickle and orbax round trips
  back = pickle.loads(pickle.dumps(jax.device_get(state)))
  assert jax.tree.structure(back) == jax.tree.structure(state)
  for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(state)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  ocp = pytest.importorskip("orbax.checkpoint")
  ckpt = ocp.StandardCheckpointer()
  ckpt.save(tmp_path / "s", state)
  ckpt.wait_until_finished()
  restored = ckpt.restore(tmp_path / "s", state)
  assert jax.tree.structure(restored) == jax.tree.structure(state)
  for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  # vmap over the learning rate
  lrs = jnp.array([1e-3, 1e-2])
  out = jax.vmap(lambda lr: gradtx.adam(lr, state_dtype=jnp.int8).update(grads, state, params)[0])(lrs)
  np.testing.assert_allclose(np.asarray(out["big"][1]), 10 * np.asarray(out["big"][0]), rtol=1e-2)


@pytest.mark.parametrize("bad", [jnp.int16, jnp.uint8, jnp.int32, jnp.bool_])
@pytest.mark.parametrize("factory", ["adam", "sgd", "rmsprop", "adagrad", "amsgrad"])
def test_meaningless_state_dtypes_are_refused_at_construction(factory, bad):
  kw = dict(momentum=0.9) if factory == "sgd" else {}
  with pytest.raises(ValueError, match="state_dtype"):
    getattr(gradtx, factory)(0.1, state_dtype=bad, **kw)


def test_complex_params_with_int8_state_are_refused():
  with pytest.raises(ValueError, match="state_dtype=int8"):
    gradtx.adam(0.1, state_dtype=jnp.int8).init({"z": jnp.ones(5000, jnp.complex64)})


def test_unsupported_primitive_with_int8_state_names_the_problem():
  tx = gradtx.lion(1e-3, state_dtype=jnp.int8)
  p = jnp.ones(5000)
  with pytest.raises(TypeError, match="8-bit quantized state"):
    tx.update(p, tx.init(p), p)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["bf16 params", "bf16 state", "int8 state"])
def test_digits_mlp_in_low_precision_within_half_a_point(mode):
  import importlib
  import sys
  sys.path.insert(0, "benchmarks/..")
  bench = importlib.import_module("benchmarks.lowp_modes")
  # one test digit is 0.28 points: average three splits / initialisations
  def mean_acc(tx, dtype):
    return np.mean([bench.digits_accuracy(tx, dtype, seed=s) for s in range(3)])
  ref = mean_acc(gradtx.adam(1e-3), jnp.float32)
  dtype = jnp.bfloat16 if mode == "bf16 params" else jnp.float32
  sd = {"bf16 params": None, "bf16 state": jnp.bfloat16, "int8 state": jnp.int8}[mode]
  acc = mean_acc(gradtx.adam(1e-3, state_dtype=sd), dtype)
  assert abs(acc - ref) <= 0.5, (acc, ref)


_SHARDING_SCRIPT = r'''
import json, jax, jax.numpy as jnp, numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
import gradtx
from gradtx.numerics.quantization import QuantizedArray
mesh = Mesh(np.array(jax.devices()).reshape(4), ("d",))
spec = NamedSharding(mesh, P("d", None))
params = {"w": jax.device_put(jnp.linspace(-1, 1, 256 * 128).reshape(256, 128), spec)}
tx = gradtx.adam(1e-2, state_dtype=jnp.int8)
state = jax.jit(tx.init)(params)
q = state[0].mu["w"]
def step(p, s):
  u, s = tx.update(jax.tree.map(lambda x: x * 0.5, p), s, p)
  return gradtx.apply_updates(p, u), s
p2, s2 = jax.jit(step)(params, state)
u_ref, _ = tx.update(jax.tree.map(lambda x: x * 0.5, jax.device_get(params)), jax.device_get(state),
                     jax.device_get(params))
print(json.dumps({
  "codes": q.codes.sharding.is_equivalent_to(spec, 2),
  "absmax_shape": list(q.absmax.shape),
  "absmax": q.absmax.sharding.is_equivalent_to(spec, 2),
  "step_codes": s2[0].mu["w"].codes.sharding.is_equivalent_to(spec, 2),
  "same": bool(np.allclose(np.asarray(p2["w"]),
                           np.asarray(params["w"]) + np.asarray(u_ref["w"]), rtol=1e-6)),
}))
'''


@pytest.mark.slow
def test_quantized_state_shards_like_the_params():
  """With params sharded by rows over 4 devices, the codes and the absmax (one per
  16x128 block, the same leading axis) are sharded the same way, also after a step."""
  import json
  import os
  import subprocess
  import sys
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") +
                        " --xla_force_host_platform_device_count=4").strip())
  out = subprocess.run([sys.executable, "-c", _SHARDING_SCRIPT], env=env, capture_output=True,
                       text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  result = json.loads(out.stdout.strip().splitlines()[-1])
  assert result == {"codes": True, "absmax_shape": [16, 1], "absmax": True,
                    "step_codes": True, "same": True}, result
