"""Where gradtx follows the paper, not Optax 0.2.8 (docs/differences.md):

* `rprop` against `torch.optim.Rprop` (float64), step by step: the first update is
  `-lr sign(g)`, not 0 as in Optax (Optax PR #1725);
* `adan` against a NumPy float64 transcription of Xie et al. (2022), Algorithm 1 with
  the authors' bias corrections (sail-sg/Adan): `b2`, not `1 - b2`, weighs the
  gradient-difference terms (Optax PR #1715).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import gradtx

pytestmark = pytest.mark.usefixtures("x64")

STEPS = 60


def _params():
  rng = np.random.default_rng(0)
  return {"w": rng.normal(size=(4, 3)), "b": rng.normal(size=(3,)), "s": np.asarray(0.7),
          "t": rng.normal(size=(2, 3, 2))}


def _loss(params):
  leaves = jax.tree.leaves(params)
  fit = sum(jnp.sum(jnp.sin(2.0 * p) + 0.05 * p ** 4 + 0.3 * p) for p in leaves)
  return fit + 0.1 * sum(jnp.sum(jnp.tanh(p)) for p in leaves) ** 2


_grad = jax.jit(jax.grad(_loss))


def _gradtx_run(tx, params, steps=STEPS):
  params = jax.tree.map(jnp.asarray, params)
  state = tx.init(params)
  update = jax.jit(tx.update)
  out = []
  for _ in range(steps):
    updates, state = update(_grad(params), state, params)
    params = gradtx.apply_updates(params, updates)
    out.append(jax.tree.map(np.asarray, params))
  return out


def _torch_rprop_run(params, steps=STEPS, **kwargs):
  names = sorted(params)
  tensors = {k: torch.tensor(params[k], dtype=torch.float64, requires_grad=True) for k in names}
  opt = torch.optim.Rprop([tensors[k] for k in names], **kwargs)
  out = []
  for _ in range(steps):
    current = {k: jnp.asarray(t.detach().numpy()) for k, t in tensors.items()}
    grads = _grad(current)  # the same loss's gradient at torch's own iterate
    for k in names:
      tensors[k].grad = torch.tensor(np.asarray(grads[k]))
    opt.step()
    out.append({k: t.detach().numpy().copy() for k, t in tensors.items()})
  return out


def _close(got, want, rtol=1e-12):
  for step, (a, b) in enumerate(zip(got, want)):
    for k in b:
      np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=1e-14, err_msg=f"step {step + 1} {k}")


@pytest.mark.parametrize("kwargs", [
    dict(),
    pytest.param(dict(eta_minus=0.3, eta_plus=1.5, min_step_size=1e-3, max_step_size=0.05),
                 marks=pytest.mark.slow),
])
def test_rprop_matches_torch(kwargs):
  lr = 0.01
  params = _params()
  torch_kwargs = dict(lr=lr)
  if kwargs:
    torch_kwargs.update(etas=(kwargs["eta_minus"], kwargs["eta_plus"]),
                        step_sizes=(kwargs["min_step_size"], kwargs["max_step_size"]))
  want = _torch_rprop_run(params, **torch_kwargs)
  got = _gradtx_run(gradtx.rprop(lr, **kwargs), params)
  _close(got, want)
  # ... and the first step is a real step, where Optax's is none:
  first = _gradtx_run(optax.rprop(lr, **kwargs), params, steps=1)[0]
  np.testing.assert_array_equal(first["w"], params["w"])
  assert not np.allclose(got[0]["w"], params["w"])


def _adan_numpy(params, grad_fn, lr, b1, b2, b3, eps, eps_root, wd, steps=STEPS):
  """Xie et al. (2022), Algorithm 1, with the paper's beta_i = 1 - b_i, zero-started
  moments debiased as in the authors' code, `g_0 = g_1`, and decoupled weight decay
  `w <- w - lr (step + wd w)`."""
  p = {k: np.array(v, np.float64) for k, v in params.items()}
  m = {k: np.zeros_like(v) for k, v in p.items()}
  v = {k: np.zeros_like(x) for k, x in p.items()}
  n = {k: np.zeros_like(x) for k, x in p.items()}
  prev = None
  out = []
  for k_step in range(1, steps + 1):
    g = {k: np.asarray(x, np.float64) for k, x in grad_fn(p).items()}
    for k in p:
      diff = np.zeros_like(g[k]) if prev is None else g[k] - prev[k]
      beta1, beta2, beta3 = 1 - b1, 1 - b2, 1 - b3
      m[k] = (1 - beta1) * m[k] + beta1 * g[k]
      v[k] = (1 - beta2) * v[k] + beta2 * diff
      n[k] = (1 - beta3) * n[k] + beta3 * (g[k] + (1 - beta2) * diff) ** 2
      m_hat = m[k] / (1 - b1 ** k_step)
      v_hat = v[k] / (1 - b2 ** k_step)
      n_hat = n[k] / (1 - b3 ** k_step)
      step = (m_hat + (1 - beta2) * v_hat) / (np.sqrt(n_hat + eps_root) + eps)
      p[k] = p[k] - lr * (step + wd * p[k])
    prev = g
    out.append({k: x.copy() for k, x in p.items()})
  return out


@pytest.mark.parametrize("hp", [
    dict(b1=0.98, b2=0.92, b3=0.99, eps=1e-8, eps_root=1e-8, wd=0.0),
    pytest.param(dict(b1=0.9, b2=0.7, b3=0.95, eps=1e-6, eps_root=0.0, wd=0.02),
                 marks=pytest.mark.slow),
])
def test_adan_matches_the_paper(hp):
  params = _params()
  lr = 0.01
  grad_fn = lambda p: _grad(jax.tree.map(jnp.asarray, p))
  want = _adan_numpy(params, grad_fn, lr, **hp)
  tx = gradtx.adan(lr, b1=hp["b1"], b2=hp["b2"], b3=hp["b3"], eps=hp["eps"],
                   eps_root=hp["eps_root"], weight_decay=hp["wd"])
  _close(_gradtx_run(tx, params), want, rtol=1e-10)
  # Optax's `1 - b2` gives another trajectory (the documented divergence):
  optax_run = _gradtx_run(optax.adan(lr, b1=hp["b1"], b2=hp["b2"], b3=hp["b3"], eps=hp["eps"],
                                     eps_root=hp["eps_root"], weight_decay=hp["wd"]), params)
  assert not np.allclose(optax_run[-1]["w"], want[-1]["w"], rtol=1e-6)
