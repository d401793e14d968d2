"""Shared by the contrib reference tests: small non-convex problems (a tanh MLP; a loss with
coupled leaves, `sum(sin(2p) + 0.05 p^4 + 0.3 p) + 0.1 (sum tanh p)^2`, whose gradient is
written by hand in NumPy), torch in float64, and runs of a gradtx optimizer and of a torch
reference optimizer on them, step by step."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import gradtx


@pytest.fixture(scope="module")
def torch64():
  """torch's default dtype float64 for a module (`pytest.mark.usefixtures`), restored after."""
  previous = torch.get_default_dtype()
  torch.set_default_dtype(torch.float64)
  yield
  torch.set_default_dtype(previous)


def mlp_problem(seed=0):
  """Params of a tanh MLP (4 -> 8 -> 2, with a bias) and the jitted gradient of its loss."""
  rng = np.random.default_rng(seed)
  params = {"w1": rng.normal(size=(4, 8)) / 2, "b1": rng.normal(size=8) / 4,
            "w2": rng.normal(size=(8, 2)) / 3}
  x, y = jnp.asarray(rng.normal(size=(24, 4))), jnp.asarray(rng.normal(size=(24, 2)))

  def loss(p):
    return jnp.mean((jnp.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] - y) ** 2)
  return params, jax.jit(jax.grad(loss))


def torch_steps(make, params, grad_fn, steps, after_step=None):
  """Runs the torch optimizer `make(list_of_parameters)` with gradients from `grad_fn`
  at its own params; yields each step's params (NumPy) or `after_step(opt, params)`."""
  tp = {k: torch.nn.Parameter(torch.tensor(v)) for k, v in params.items()}
  opt = make(list(tp.values()))
  for _ in range(steps):
    grads = grad_fn({k: jnp.asarray(v.detach().numpy()) for k, v in tp.items()})
    for k, v in tp.items():
      v.grad = torch.tensor(np.asarray(grads[k]))
    opt.step()
    current = {k: v.detach().numpy().copy() for k, v in tp.items()}
    yield current if after_step is None else after_step(opt, tp, current)


def gradtx_steps(opt, params, grad_fn, steps, extra=None):
  """Runs `opt` (jitted step); yields each step's params, or `(params, extra(state, params))`."""
  params = jax.tree.map(jnp.asarray, params)
  state = opt.init(params)

  @jax.jit
  def step(p, s):
    u, s = opt.update(grad_fn(p), s, p)
    p = gradtx.apply_updates(p, u)
    return p, s, (None if extra is None else extra(s, p))
  for _ in range(steps):
    params, state, more = step(params, state)
    yield (params, state) if extra is None else (params, more)


def coupled_grad_np(p):
  """The gradient of `coupled_loss`, in NumPy (independent of JAX's autodiff)."""
  coupling = sum(np.sum(np.tanh(x)) for x in p.values())
  return {k: 2 * np.cos(2 * x) + 0.2 * x ** 3 + 0.3 + 0.2 * coupling / np.cosh(x) ** 2
          for k, x in p.items()}


def coupled_loss(p):
  leaves = jax.tree.leaves(p)
  fit = sum(jnp.sum(jnp.sin(2 * x) + 0.05 * x ** 4 + 0.3 * x) for x in leaves)
  return fit + 0.1 * sum(jnp.sum(jnp.tanh(x)) for x in leaves) ** 2
