"""8-bit state against bitsandbytes (Dettmers et al.'s own library; its CPU backend runs the
block-wise 8-bit optimizers since 0.4x, so this runs on any machine).

What is compared: the dynamic quantization maps (equal to one float32 ulp), block-wise
quantization with bitsandbytes' block of 256 (the same absmax; the same codes wherever
bitsandbytes picks the nearest map entry; where it does not, gradtx's code is the nearest
and bitsandbytes' a neighbour of it), the first 8-bit AdamW step (exact: both step with the
unquantized new moments) and the loss after training an MLP regression with 8-bit AdamW.
gradtx's blocks are 2048-element tiles (`block_geometry`), bitsandbytes' 256-element runs
of the flattened leaf, so later trajectories differ by quantization noise only.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx.numerics import quantization as Q

torch = pytest.importorskip("torch")
bnb = pytest.importorskip("bitsandbytes")
bnb_functional = pytest.importorskip("bitsandbytes.functional")


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
def test_dynamic_maps_equal_bitsandbytes(signed):
  theirs = bnb_functional.create_dynamic_map(signed=signed).numpy()
  assert theirs.shape == (256,) and np.all(np.diff(theirs) > 0)
  np.testing.assert_allclose(Q.dynamic_map(signed), theirs, rtol=2e-7, atol=0)


def _heavy_tailed(n: int, seed: int) -> np.ndarray:
  rng = np.random.default_rng(seed)
  return (rng.standard_normal(n) * 10.0 ** rng.uniform(-5, 0, n)).astype(np.float32)


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
def test_blockwise_quantization_against_bitsandbytes(signed):
  x = _heavy_tailed(64 * 256, seed=1)
  x = x if signed else np.abs(x)
  table = bnb_functional.create_dynamic_map(signed=signed)
  codes, qstate = bnb_functional.quantize_blockwise(torch.tensor(x), code=table, blocksize=256)
  theirs = codes.numpy().ravel().astype(np.int64)
  ours_q = Q.quantize(jnp.asarray(x[None]), signed, block=(1, 256))
  np.testing.assert_array_equal(np.asarray(ours_q.absmax).ravel(), qstate.absmax.numpy())
  ours = np.asarray(ours_q.codes).ravel().astype(np.int64)

  xn = x.astype(np.float64) / np.repeat(qstate.absmax.numpy().astype(np.float64), 256)
  entries = table.numpy().astype(np.float64)
  nearest = np.argmin(np.abs(xn[:, None] - entries[None]), axis=1)
  np.testing.assert_array_equal(ours, nearest)  # the paper's rule: the nearest entry
  theirs_nearest = theirs == nearest
  np.testing.assert_array_equal(ours[theirs_nearest], theirs[theirs_nearest])
  # bitsandbytes' CPU kernel misses the nearest entry for some elements: on this input 17%
  # (signed) / 24% (unsigned), mostly one entry off; normalised values under ~1e-5 go to its
  # smallest nonzero entries (2.1e-5 signed, 1.6e-5 unsigned) where gradtx keeps the decades
  # down to 1e-6 (the paper's map)
  assert theirs_nearest.mean() > 0.7, theirs_nearest.mean()


def _regression(seed=0, n=8192, d=64, hidden=64):
  """A teacher-student regression with label noise (so it does not interpolate)."""
  rng = np.random.default_rng(seed)
  x = rng.standard_normal((n, d)).astype(np.float32)
  teacher = rng.standard_normal((d, 16)).astype(np.float32) / np.sqrt(d)
  y = np.tanh(x @ teacher) @ rng.standard_normal((16, 1)) / 4 + 0.1 * rng.standard_normal((n, 1))
  y = y.astype(np.float32)
  params = {  # w1 and w2 (4096 each) are quantized; biases and w3 stay float32 (< 4096)
    "w1": rng.standard_normal((d, hidden)).astype(np.float32) / np.sqrt(d),
    "b1": np.zeros(hidden, np.float32),
    "w2": rng.standard_normal((hidden, hidden)).astype(np.float32) / np.sqrt(hidden),
    "b2": np.zeros(hidden, np.float32),
    "w3": rng.standard_normal((hidden, 1)).astype(np.float32) / np.sqrt(hidden),
  }
  return x, y, {k: v.astype(np.float32) for k, v in params.items()}


def _forward(lib, p, x, y):
  h = lib.tanh(x @ p["w1"] + p["b1"])
  h = lib.tanh(h @ p["w2"] + p["b2"])
  return ((h @ p["w3"] - y) ** 2).mean()


def _train_torch(opt_cls, steps, **kwargs):
  x, y, params = _regression()
  p = {k: torch.nn.Parameter(torch.tensor(v)) for k, v in params.items()}
  opt = opt_cls(list(p.values()), **kwargs)
  xt, yt = torch.tensor(x), torch.tensor(y)
  for _ in range(steps):
    opt.zero_grad()
    _forward(torch, p, xt, yt).backward()
    opt.step()
  with torch.no_grad():
    return float(_forward(torch, p, xt, yt)), {k: v.detach().numpy() for k, v in p.items()}


def _train_gradtx(tx, steps):
  x, y, params = _regression()
  loss = lambda p: _forward(jnp, p, x, y)

  def body(carry, _):
    p, s = carry
    u, s = tx.update(jax.grad(loss)(p), s, p)
    return (gradtx.apply_updates(p, u), s), None

  params = jax.tree.map(jnp.asarray, params)
  run = jax.jit(lambda c: jax.lax.scan(body, c, None, length=steps))
  (p, s), _ = run((params, tx.init(params)))
  return float(loss(p)), jax.tree.map(np.asarray, p), s


HYPER = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2)


def _gradtx_adamw(state_dtype):
  return gradtx.adamw(
    HYPER["lr"],
    *HYPER["betas"],
    eps=HYPER["eps"],
    weight_decay=HYPER["weight_decay"],
    state_dtype=state_dtype,
  )


def test_first_eight_bit_adamw_step_equals_bitsandbytes():
  _, theirs = _train_torch(bnb.optim.AdamW8bit, 1, **HYPER)
  _, ours, state = _train_gradtx(_gradtx_adamw(jnp.int8), 1)
  start = _regression()[2]
  leaves = jax.tree.leaves(state, is_leaf=Q.is_quantized)
  assert sum(Q.is_quantized(leaf) for leaf in leaves) == 4  # mu and nu of w1 and w2
  for k in theirs:  # the steps agree to 1e-4 of the learning rate (float32 rounding where
    # |g| is near eps); the step itself is ~lr wherever |g| >> eps
    np.testing.assert_allclose(
      ours[k] - start[k], theirs[k] - start[k], rtol=0, atol=1e-4 * HYPER["lr"], err_msg=k
    )
    assert np.max(np.abs(theirs[k] - start[k])) > 0.5 * HYPER["lr"], k


@pytest.mark.slow
def test_eight_bit_adamw_trains_like_bitsandbytes():
  """300 steps: 8-bit AdamW in gradtx and in bitsandbytes each end at most 5% above their own
  float32 AdamW (measured: 0.93x and 0.97x), and within 10% of each other (0.96x)."""
  steps = 300
  bnb8, _ = _train_torch(bnb.optim.AdamW8bit, steps, **HYPER)
  torch32, _ = _train_torch(torch.optim.AdamW, steps, **HYPER)
  ours8, _, _ = _train_gradtx(_gradtx_adamw(jnp.int8), steps)
  ours32, _, _ = _train_gradtx(_gradtx_adamw(None), steps)
  assert abs(ours32 - torch32) <= 1e-3 * torch32, (ours32, torch32)
  assert bnb8 <= 1.05 * torch32, (bnb8, torch32)
  assert ours8 <= 1.05 * ours32, (ours8, ours32)
  assert abs(ours8 - bnb8) <= 0.1 * bnb8, (ours8, bnb8)
