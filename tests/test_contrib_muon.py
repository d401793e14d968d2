"""Muon (`gradtx.contrib.muon`) against `torch.optim.Muon` (float64, its Newton-Schulz run
in float64 instead of bfloat16) and against `optax.contrib.muon` where Optax agrees (no
momentum to bias-correct: `beta=0`; `eps=0`, where `X / (|X| + eps)` and `X / max(|X|, eps)`
coincide)."""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
import torch.optim._muon as torch_muon

import gradtx
from gradtx.contrib import MuonDimensionNumbers, muon, scale_by_muon

pytestmark = pytest.mark.usefixtures("x64")

STEPS = 60


_SHIPPED_NEWTON_SCHULZ = torch_muon._zeropower_via_newtonschulz  # bfloat16, as released


@pytest.fixture(scope="module")
def torch_muon64():
  """`torch.optim.Muon` with its Newton-Schulz in float64: torch's own source with the
  `.bfloat16()` cast replaced by a copy."""
  source = inspect.getsource(torch_muon._zeropower_via_newtonschulz)
  assert "grad.bfloat16()" in source
  namespace = dict(vars(torch_muon))
  exec(source.replace("grad.bfloat16()", "grad.clone()"), namespace)  # noqa: S102
  original = torch_muon._zeropower_via_newtonschulz
  torch_muon._zeropower_via_newtonschulz = namespace["_zeropower_via_newtonschulz"]
  previous = torch.get_default_dtype()
  torch.set_default_dtype(torch.float64)
  yield torch.optim.Muon
  torch.set_default_dtype(previous)
  torch_muon._zeropower_via_newtonschulz = original


def _problem(shapes=((6, 10), (10, 4)), seed=0):
  rng = np.random.default_rng(seed)
  params = {f"w{i}": rng.normal(size=s) / np.sqrt(s[0]) for i, s in enumerate(shapes)}
  x = jnp.asarray(rng.normal(size=(32, shapes[0][0])))
  y = jnp.asarray(np.sin(rng.normal(size=(32, shapes[-1][1]))))

  def loss(p):  # a non-convex MLP, tanh between the layers
    h = x
    for i in range(len(shapes)):
      h = h @ p[f"w{i}"]
      h = jnp.tanh(h) if i < len(shapes) - 1 else h
    return jnp.mean((h - y) ** 2)
  return params, jax.jit(jax.grad(loss))


def _run_gradtx(opt, params, grad_fn, steps=STEPS):
  params = jax.tree.map(jnp.asarray, params)
  state = opt.init(params)
  step = jax.jit(lambda p, s: (lambda u, s: (gradtx.apply_updates(p, u), s))(
      *opt.update(grad_fn(p), s, p)))
  history = []
  for _ in range(steps):
    params, state = step(params, state)
    history.append(params)
  return history


def _run_torch(make, params, grad_fn, steps=STEPS):
  """torch weights are (out, in): the transposes of the JAX (in, out) weights."""
  tp = {k: torch.nn.Parameter(torch.tensor(np.asarray(v).T.copy())) for k, v in params.items()}
  opt = make(list(tp.values()))
  history = []
  for _ in range(steps):
    grads = grad_fn({k: jnp.asarray(v.detach().numpy().T) for k, v in tp.items()})
    for k, v in tp.items():
      v.grad = torch.tensor(np.asarray(grads[k]).T.copy())
    opt.step()
    history.append({k: v.detach().numpy().T.copy() for k, v in tp.items()})
  return history


def _assert_trajectories(a, b, rtol=1e-7):
  for t, (pa, pb) in enumerate(zip(a, b)):
    for k in pb:
      np.testing.assert_allclose(np.asarray(pa[k]), pb[k], rtol=rtol, atol=rtol * np.abs(
          pb[k]).max(), err_msg=f"step {t + 1}, leaf {k}")


@pytest.mark.parametrize("nesterov,weight_decay", [(True, 0.1), (False, 0.0)])
def test_matches_torch_muon(torch_muon64, nesterov, weight_decay):
  params, grad_fn = _problem()
  ours = _run_gradtx(muon(0.02, weight_decay=weight_decay, nesterov=nesterov), params, grad_fn)
  ref = _run_torch(lambda ps: torch_muon64(ps, lr=0.02, weight_decay=weight_decay,
                                           nesterov=nesterov), params, grad_fn)
  _assert_trajectories(ours, ref)


def test_consistent_rms_is_torch_match_rms_adamw(torch_muon64):
  params, grad_fn = _problem(((8, 3), (3, 12)), seed=1)
  ours = _run_gradtx(muon(0.01, consistent_rms=0.2, weight_decay=0.05), params, grad_fn)
  ref = _run_torch(lambda ps: torch_muon64(ps, lr=0.01, weight_decay=0.05,
                                           adjust_lr_fn="match_rms_adamw"), params, grad_fn)
  _assert_trajectories(ours, ref)


def test_momentum_is_not_bias_corrected_unlike_optax(torch_muon64):
  """The deliberate divergence: Optax divides the momentum by 1 - beta^t."""
  params, grad_fn = _problem()
  ours = _run_gradtx(muon(0.02), params, grad_fn, steps=40)
  theirs = _run_gradtx(optax.contrib.muon(0.02, eps=1e-7), params, grad_fn, steps=40)
  gap = max(np.abs(np.asarray(ours[-1][k]) - np.asarray(theirs[-1][k])).max() for k in params)
  assert gap > 1e-5


_SLOW = pytest.mark.slow


@pytest.mark.parametrize("kwargs", [
    {"adaptive": True, "adam_learning_rate": 0.003, "adam_weight_decay": 0.01, "adam_b2": 0.99},
    pytest.param({"weight_decay": 0.1, "nesterov": False, "ns_coeffs": "dion"}, marks=_SLOW),
    pytest.param({"preconditioning": "aol"}, marks=_SLOW),
    pytest.param({"preconditioning": "schatten"}, marks=_SLOW),
    pytest.param({"preconditioning": "spectral"}, marks=_SLOW),
    pytest.param({"consistent_rms": 0.2}, marks=_SLOW),
])
def test_matches_optax_without_momentum(kwargs):
  """With beta = 0 and eps = 0 Optax and the reference agree: the whole optimizer, AdamW
  fallback on the 1-D bias included, equals Optax's."""
  rng = np.random.default_rng(2)
  params = {"w1": jnp.asarray(rng.normal(size=(5, 8))), "b1": jnp.asarray(rng.normal(size=8)),
            "w2": jnp.asarray(rng.normal(size=(8, 3))), "w3": jnp.asarray(rng.normal(size=(8, 3)))}
  x, y = jnp.asarray(rng.normal(size=(16, 5))), jnp.asarray(rng.normal(size=(16, 3)))

  def loss(p):
    return jnp.mean((jnp.tanh(x @ p["w1"] + p["b1"]) @ p["w2"]
                     + jnp.tanh(x @ p["w1"]) @ p["w3"] - y) ** 2)
  grad_fn = jax.jit(jax.grad(loss))
  ours = _run_gradtx(muon(0.05, beta=0.0, eps=0.0, adam_eps=0.0, **kwargs), params, grad_fn)
  theirs = _run_gradtx(optax.contrib.muon(0.05, beta=0.0, eps=0.0, **kwargs), params, grad_fn)
  _assert_trajectories(ours, [{k: np.asarray(v) for k, v in p.items()} for p in theirs], 1e-7)


def _batched_reference(g, spec):
  """NumPy float64: orthogonalize each batch index of `g` under `spec` (Optax's
  `orthogonalize_via_newton_schulz` with eps = 0 gives the same as the reference)."""
  from optax.contrib._muon import orthogonalize_via_newton_schulz
  return np.asarray(orthogonalize_via_newton_schulz(
      jnp.asarray(g), jnp.asarray((3.4445, -4.7750, 2.0315)), 5, eps=0.0,
      dimension_numbers=optax.contrib.MuonDimensionNumbers(*spec)))


@pytest.mark.parametrize("shape,spec", [
    ((3, 3, 4, 6), ((0, 1, 2), 3)),     # conv kernel HWIO
    ((8, 2, 4), (0, (1, 2))),           # attention (d_model, heads, head_dim)
    pytest.param((3, 5, 7), (1, 2), marks=pytest.mark.slow),  # MoE (experts, in, out)
    pytest.param((4, 6, 5), (-1, 0), marks=pytest.mark.slow),  # negative axes, batch between
])
def test_batched_specs_orthogonalize_each_matrix(shape, spec):
  g = np.random.default_rng(3).normal(size=shape)
  tx = scale_by_muon(beta=0.0, eps=0.0,
                     weight_dimension_numbers={"w": MuonDimensionNumbers(*spec)})
  u, _ = tx.update({"w": jnp.asarray(g)}, tx.init({"w": jnp.asarray(g)}))
  np.testing.assert_allclose(np.asarray(u["w"]), _batched_reference(g, spec), rtol=1e-10,
                             atol=1e-12)


def test_same_shape_batching_changes_nothing():
  rng = np.random.default_rng(4)
  tree = {f"w{i}": jnp.asarray(rng.normal(size=(16, 24) if i % 2 else (24, 16)))
          for i in range(6)}
  tree["e"] = jnp.asarray(rng.normal(size=(2, 16, 24)))
  spec = {k: MuonDimensionNumbers() for k in tree} | {"e": MuonDimensionNumbers(1, 2)}
  outs = []
  for batch in (True, False):
    tx = scale_by_muon(weight_dimension_numbers=spec, batch_same_shape=batch)
    outs.append(jax.jit(tx.update)(tree, tx.init(tree))[0])
  for k in tree:
    np.testing.assert_allclose(np.asarray(outs[0][k]), np.asarray(outs[1][k]), rtol=1e-12,
                               atol=1e-14)


def test_odd_leaves_go_to_adamw_and_conv_kernels_to_muon():
  rng = np.random.default_rng(5)
  params = {"scalar": jnp.asarray(0.5), "bias": jnp.asarray(rng.normal(size=7)),
            "conv": jnp.asarray(rng.normal(size=(3, 3, 2, 7))),
            "dense": jnp.asarray(rng.normal(size=(7, 5)))}
  dims = {"scalar": None, "bias": None, "conv": MuonDimensionNumbers((0, 1, 2), 3),
          "dense": MuonDimensionNumbers()}
  grads = jax.tree.map(lambda p: jnp.cos(p) + 0.1, params)
  opt = muon(0.1, beta=0.0, eps=0.0, adam_eps=0.0, muon_weight_dimension_numbers=dims)
  ref = optax.contrib.muon(0.1, beta=0.0, eps=0.0, muon_weight_dimension_numbers={
      k: None if v is None else optax.contrib.MuonDimensionNumbers(*v) for k, v in dims.items()})
  ours, _ = jax.jit(opt.update)(grads, opt.init(params), params)
  theirs, _ = jax.jit(ref.update)(grads, ref.init(params), params)
  for k in params:
    np.testing.assert_allclose(np.asarray(ours[k]), np.asarray(theirs[k]), rtol=1e-10)
  labels = opt.transformation().labels.resolve(params)
  assert labels == {"scalar": "adam", "bias": "adam", "conv": "muon", "dense": "muon"}


def test_adam_mask_sends_embeddings_and_head_to_adamw():
  rng = np.random.default_rng(6)
  params = {"embed": jnp.asarray(rng.normal(size=(50, 8))),
            "block": {"w": jnp.asarray(rng.normal(size=(8, 8)))},
            "lm_head": {"w": jnp.asarray(rng.normal(size=(8, 50)))}}
  opt = muon(0.02, adam_mask=gradtx.by_path("embed", "lm_head/*"))
  assert opt.transformation().labels.resolve(params) == {
      "embed": "adam", "block": {"w": "muon"}, "lm_head": {"w": "adam"}}
  grads = jax.tree.map(jnp.sin, params)
  updates, _ = jax.jit(opt.update)(grads, opt.init(params), params)
  ref = optax.adamw(0.02, weight_decay=0.0, nesterov=True)
  ref_u, _ = jax.jit(ref.update)(grads, ref.init(params), params)
  for path in (("embed",), ("lm_head", "w")):
    a, b = updates, ref_u
    for key in path:
      a, b = a[key], b[key]
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10)


@pytest.mark.parametrize("spec,message", [
    (MuonDimensionNumbers(0, 0), "share an axis"),
    (MuonDimensionNumbers(0, 3), "out of range"),
    (MuonDimensionNumbers((0, 0), 1), "repeats"),
    (MuonDimensionNumbers((), 1), "empty"),
])
def test_impossible_specs_are_clear_errors(spec, message):
  tx = scale_by_muon(weight_dimension_numbers={"layer": {"w": spec}})
  tree = {"layer": {"w": jnp.ones((4, 5, 6))}}
  with pytest.raises(ValueError, match=message) as info:
    tx.update(tree, tx.init(tree))
  assert "['layer']['w']" in str(info.value)


def test_vector_without_a_spec_is_a_clear_error():
  tx = scale_by_muon()
  with pytest.raises(ValueError, match=r"\['b'\].*rank >= 2"):
    tx.update({"b": jnp.ones(3)}, tx.init({"b": jnp.ones(3)}))


@pytest.mark.parametrize("kwargs,name", [
    ({"beta": 1.0}, "beta"), ({"ns_steps": 0}, "ns_steps"), ({"eps": -1.0}, "eps"),
    ({"preconditioning": "polar"}, "preconditioning"), ({"ns_coeffs": (1.0, 2.0)}, "ns_coeffs"),
    ({"ns_coeffs": "fast"}, "ns_coeffs"), ({"consistent_rms": -0.2}, "consistent_rms"),
])
def test_bad_arguments_name_themselves(kwargs, name):
  with pytest.raises(ValueError, match=name):
    muon(0.02, **kwargs)


def test_huge_dimension_and_zero_gradient():
  tx = scale_by_muon()
  tree = {"w": jnp.zeros((2, 40000))}
  u, _ = jax.jit(tx.update)(tree, tx.init(tree))
  assert np.all(np.asarray(u["w"]) == 0)  # 0 / max(0, eps): no NaN
  g = {"w": jnp.asarray(np.random.default_rng(7).normal(size=(2, 40000)))}
  u, _ = jax.jit(tx.update)(g, tx.init(g))
  s = np.linalg.svd(np.asarray(u["w"]), compute_uv=False)
  assert np.all((s > 0.5) & (s < 1.5))  # Jordan's quintic: singular values in ~(0.5, 1.5)


def test_nan_gradients_inside_apply_if_finite():
  params, grad_fn = _problem()
  opt = gradtx.apply_if_finite(muon(0.02), 3)
  params = jax.tree.map(jnp.asarray, params)
  state = opt.init(params)
  bad = jax.tree.map(lambda p: jnp.full(p.shape, jnp.nan), params)
  update = jax.jit(opt.update)
  u, state2 = update(bad, state, params)
  assert all(np.all(np.asarray(x) == 0) for x in jax.tree.leaves(u))
  assert int(state2.notfinite_count) == 1
  u, _ = update(grad_fn(params), state2, params)
  assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(u))


def test_vmap_over_learning_rates():
  params, grad_fn = _problem()
  params = jax.tree.map(jnp.asarray, params)
  grads = grad_fn(params)
  lrs = jnp.asarray([0.01, 0.02, 0.05])

  @jax.jit
  def one(lr):
    opt = muon(lr, weight_decay=0.1)
    return opt.update(grads, opt.init(params), params)[0]
  swept = jax.jit(jax.vmap(one))(lrs)
  for i, lr in enumerate(np.asarray(lrs)):
    single = one(lr)
    for k in params:
      np.testing.assert_allclose(np.asarray(swept[k][i]), np.asarray(single[k]), rtol=1e-12)


@pytest.mark.slow
def test_sharded_over_8_devices_equals_unsharded():
  """`tests/_muon_sharding_check.py` in a subprocess with 8 virtual CPU devices."""
  import json
  import os
  import pathlib
  import subprocess
  import sys
  script = pathlib.Path(__file__).with_name("_muon_sharding_check.py")
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                        timeout=900)
  assert proc.returncode == 0, proc.stderr[-3000:]
  results = json.loads(proc.stdout.strip().splitlines()[-1])
  assert results and all(v == "ok" for v in results.values()), results


def _shipped_torch_muon(ps):
  """`torch.optim.Muon` as shipped (Newton-Schulz in bfloat16), also while the module's
  float64 patch (`torch_muon64`) is active: the patch is lifted for each `step`."""
  opt = torch.optim.Muon(ps, lr=0.02, weight_decay=0.0)
  step = opt.step

  def shipped_step():
    patched, torch_muon._zeropower_via_newtonschulz = (
        torch_muon._zeropower_via_newtonschulz, _SHIPPED_NEWTON_SCHULZ)
    try:
      step()
    finally:
      torch_muon._zeropower_via_newtonschulz = patched
  opt.step = shipped_step
  return opt


@pytest.mark.parametrize("seed", [0, 1])
def test_bfloat16_newton_schulz_has_torchs_precision(torch_muon64, seed):
  """`ns_dtype=jnp.bfloat16` runs the iterations as torch does (bfloat16 storage, float32
  accumulation in each `addmm`): its distance to the exact (float64) step is torch's own
  (1.6-1.9% here), and it is that close to torch's bfloat16 step. The float32 default is
  1e-6 from the exact step."""
  rng = np.random.default_rng(seed)
  shapes = [(64, 128), (128, 32), (96, 96)]
  params = {f"w{i}": (rng.normal(size=s) / 8).astype(np.float32) for i, s in enumerate(shapes)}
  grads = {k: rng.normal(size=v.shape).astype(np.float32) for k, v in params.items()}

  def ours(ns_dtype):
    tx = muon(0.02, ns_dtype=ns_dtype)
    p = jax.tree.map(jnp.asarray, params)
    u, _ = jax.jit(tx.update)(jax.tree.map(jnp.asarray, grads), tx.init(p), p)
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(u)), ns_dtype  # cast back
    return {k: np.asarray(v, np.float64) for k, v in u.items()}

  def torch_step(make, dtype):
    p = {k: v.astype(dtype) for k, v in params.items()}
    after = _run_torch(make, p, lambda _: {k: g.astype(dtype) for k, g in grads.items()}, 1)[0]
    return {k: after[k].astype(np.float64) - params[k] for k in params}

  torch_bf16 = torch_step(_shipped_torch_muon, np.float32)
  exact = torch_step(lambda ps: torch_muon64(ps, lr=0.02, weight_decay=0.0), np.float64)
  rel = lambda a, b: max(np.linalg.norm(a[k] - b[k]) / np.linalg.norm(b[k]) for k in b)
  ours_bf16, ours_f32 = ours(jnp.bfloat16), ours(None)
  torch_err = rel(torch_bf16, exact)
  assert 5e-3 < torch_err < 5e-2
  assert 0.5 * torch_err < rel(ours_bf16, exact) < 1.3 * torch_err
  assert rel(ours_bf16, torch_bf16) < 1.5 * torch_err
  assert rel(ours_f32, exact) < 1e-5


def test_ns_dtype_errors():
  with pytest.raises(ValueError, match="ns_dtype"):
    muon(0.02, ns_dtype=jnp.int8)
  tx = muon(0.02, ns_dtype=jnp.bfloat16)
  p = {"w": jnp.ones((3, 4), jnp.complex64)}
  with pytest.raises(TypeError, match=r"\['w'\].*complex"):
    tx.update(p, tx.init(p), p)
