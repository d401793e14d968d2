"""gradtx.contrib.normuon against NumPy float64 written from Li et al. (2025), "NorMuon",
Algorithm 1 (default), and from the authors' code (zichongli5/NorMuon `normuon_update`,
`rms_scale=None, nesterov=True`); errors, jit and vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from _contrib_problems import coupled_grad_np, coupled_loss
from gradtx import contrib as gc

pytestmark = pytest.mark.usefixtures("x64")

NS = (3.4445, -4.7750, 2.0315)


def _params():
  rng = np.random.default_rng(0)
  return {"w1": rng.normal(size=(5, 8)), "w2": rng.normal(size=(8, 3)),
          "sq": rng.normal(size=(4, 4)), "b": rng.normal(size=6)}


def _newton_schulz(m, eps=1e-7):
  x = m / max(np.linalg.norm(m), eps)
  a, b, c = NS
  for _ in range(5):
    s = x @ x.T
    x = a * x + (b * s + c * s @ s) @ x
  return x


def numpy_normuon(params, steps, lr, wd, paper=True, beta=0.95, b2=0.95, eps=1e-10):
  """Algorithm 1 of the paper (`paper=True`) or the authors' `normuon_update`, written for
  JAX's `(in, out)` layout: an output neuron (a row of the paper's `m x n`) is a column.
  1-D leaves: Adam (b1=0.9, b2=0.999, eps=1e-8), as muon's fallback."""
  p = {k: v.copy() for k, v in params.items()}
  m = {k: np.zeros_like(v) for k, v in p.items()}
  v = {k: (np.zeros(x.shape[1]) if x.ndim == 2 else np.zeros_like(x)) for k, x in p.items()}
  for t in range(1, steps + 1):
    g = coupled_grad_np(p)
    for k in p:
      if p[k].ndim == 1:
        m[k] = 0.9 * m[k] + 0.1 * g[k]
        v[k] = 0.999 * v[k] + 0.001 * g[k] ** 2
        upd = (m[k] / (1 - 0.9 ** t)) / (np.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8)
        p[k] = p[k] - lr * upd
        continue
      m[k] = beta * m[k] + (1 - beta) * g[k]
      d = m[k] if paper else beta * m[k] + (1 - beta) * g[k]
      o = _newton_schulz(d)
      v[k] = b2 * v[k] + (1 - b2) * np.mean(o * o, axis=0)  # mean over the inputs
      o_hat = o / (np.sqrt(v[k])[None, :] + eps)
      fan_in, fan_out = o.shape
      if paper:  # eta_hat = 0.2 eta sqrt(mn) / |O_hat|_F
        upd = 0.2 * np.sqrt(fan_in * fan_out) / np.linalg.norm(o_hat) * o_hat
      else:  # keep |O|_F, then Muon's shape factor sqrt(max(1, out / in))
        upd = o_hat * (np.linalg.norm(o) / (np.linalg.norm(o_hat) + eps))
        upd = upd * max(1.0, fan_out / fan_in) ** 0.5
      p[k] = p[k] - lr * upd - lr * wd * p[k]
    yield {k: x.copy() for k, x in p.items()}


def _run(opt, params, steps):
  params = jax.tree.map(jnp.asarray, params)
  state = opt.init(params)

  @jax.jit
  def step(p, s):
    u, s = opt.update(jax.grad(coupled_loss)(p), s, p)
    return gradtx.apply_updates(p, u), s

  for _ in range(steps):
    params, state = step(params, state)
    yield params


@pytest.mark.parametrize("paper", [True, False], ids=["paper", "authors_code"])
def test_matches_numpy_step_by_step(paper):
  kw = {} if paper else dict(rms_scale=None, nesterov=True)
  opt = gc.normuon(0.02, weight_decay=0.1, **kw)
  params = _params()
  for i, (ours, theirs) in enumerate(zip(_run(opt, params, 12),
                                         numpy_normuon(params, 12, 0.02, 0.1, paper))):
    for k in theirs:
      np.testing.assert_allclose(np.asarray(ours[k]), theirs[k], rtol=1e-7, atol=1e-9,
                                 err_msg=f"step {i + 1}, leaf {k}")


def test_update_rms_is_rms_scale_times_lr_and_state_is_per_neuron():
  params = jax.tree.map(jnp.asarray, _params())
  opt = gc.normuon(0.01, rms_scale=0.3)
  state = opt.init(params)
  grads = jax.grad(coupled_loss)(params)
  u, state = opt.update(grads, state, params)
  for k in ("w1", "w2", "sq"):
    np.testing.assert_allclose(np.sqrt(np.mean(np.asarray(u[k]) ** 2)), 0.3 * 0.01, rtol=1e-12)
  nus = [x for x in jax.tree.leaves(state) if x.ndim == 2 and x.shape[0] == 1]
  assert sorted(x.shape for x in nus) == [(1, 3), (1, 4), (1, 8)]


@pytest.mark.parametrize("kwargs,name", [
    (dict(b2=1.0), "b2"), (dict(beta=-0.1), "beta"), (dict(norm_eps=-1.0), "eps"),
    (dict(rms_scale=0.0), "rms_scale"), (dict(ns_steps=0), "ns_steps"),
])
def test_bad_hyperparameters_named_at_construction(kwargs, name):
  with pytest.raises(ValueError, match=name):
    gc.normuon(0.1, **kwargs)


def test_jit_no_retrace_and_vmap_over_learning_rate():
  params = {"w": jnp.asarray(np.random.default_rng(3).normal(size=(4, 6))), "b": jnp.ones(3)}
  traces = []

  @jax.jit
  def step(opt, p, s):
    traces.append(1)
    u, s = opt.update(jax.grad(coupled_loss)(p), s, p)
    return gradtx.apply_updates(p, u), s

  for lr in (0.01, 0.02):
    opt = gc.normuon(lr)
    step(opt, params, opt.init(params))
  assert len(traces) == 1

  def run(lr):
    opt = gc.normuon(lr)
    p, s = params, opt.init(params)
    for _ in range(2):
      u, s = opt.update(jax.grad(coupled_loss)(p), s, p)
      p = gradtx.apply_updates(p, u)
    return p

  batched = jax.jit(jax.vmap(run))(jnp.array([0.01, 0.05]))
  single = jax.jit(run)
  for i, lr in enumerate((0.01, 0.05)):
    for k in params:
      np.testing.assert_allclose(batched[k][i], single(lr)[k], rtol=1e-12, atol=1e-14)


def test_bfloat16_params_keep_their_dtype():
  params = {"w": jnp.ones((4, 6), jnp.bfloat16), "b": jnp.ones(3, jnp.bfloat16)}
  opt = gc.normuon(0.01)
  state = opt.init(params)
  grads = {"w": jnp.asarray(np.random.default_rng(5).normal(size=(4, 6)), jnp.bfloat16),
           "b": jnp.ones(3, jnp.bfloat16)}
  u, _ = jax.jit(opt.update)(grads, state, params)
  assert {k: x.dtype for k, x in u.items()} == {"w": jnp.bfloat16, "b": jnp.bfloat16}
  assert all(bool(jnp.all(jnp.isfinite(x))) for x in u.values())
