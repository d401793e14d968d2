"""A small non-convex problem with several parameter tensors, run by PyTorch and by gradtx
step for step (float64), for the `gradtx.torch_optim` parity tests."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import gradtx

@pytest.fixture
def torch_float64():
  """`torch.set_default_dtype(torch.float64)` for one test, restored after."""
  previous = torch.get_default_dtype()
  torch.set_default_dtype(torch.float64)
  yield
  torch.set_default_dtype(previous)


SHAPES = {"W1": (4, 3), "b1": (3,), "w2": (3,), "s": ()}


def _data():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(8, 4))
  y = np.sin(x.sum(axis=1))
  init = {k: 0.2 + 0.6 * rng.normal(size=s) for k, s in SHAPES.items()}
  return x, y, init


X, Y, INIT = _data()


def loss(p, lib):
  """`mean((tanh(X W1 + b1) w2 + s - y)^2) + 0.1 sum(sin(2 W1))`, in jnp or torch."""
  h = lib.tanh(lib_matmul(lib, X, p["W1"]) + p["b1"])
  pred = lib_matmul(lib, h, p["w2"]) + p["s"]
  return ((pred - lib_asarray(lib, Y)) ** 2).mean() + 0.1 * lib.sin(2 * p["W1"]).sum()


def regularized_loss(p, lib):
  """`loss + 0.05 ||p||^2`: L-BFGS at lr=1 settles in its minimum instead of wandering
  where rounding differences of 1e-16 grow (PyTorch against itself in another order)."""
  return loss(p, lib) + 0.05 * sum((v ** 2).sum() for v in p.values())


def lib_asarray(lib, a):
  return torch.as_tensor(a, dtype=torch.float64) if lib is torch else jnp.asarray(a)


def lib_matmul(lib, a, b):
  return lib_asarray(lib, a) @ b if not isinstance(a, (torch.Tensor, jax.Array)) else a @ b


def torch_run(make_opt, steps, make_sched=None, values=None, read=None):
  """Params after each of `steps` PyTorch steps (and `read(opt, sched)` before each step)."""
  p = {k: torch.nn.Parameter(torch.tensor(v, dtype=torch.float64)) for k, v in INIT.items()}
  opt = make_opt(list(p.values()))
  sched = make_sched(opt) if make_sched else None
  traj, seen = [], []
  for k in range(steps):
    opt.zero_grad()
    out = loss(p, torch)
    out.backward()
    if read:
      seen.append(read(opt, sched))
    opt.step()
    if sched is not None:
      if values is not None:
        sched.step(values[k])
      else:
        sched.step()
    traj.append({n: t.detach().numpy().copy() for n, t in p.items()})
  return traj, seen


def gradtx_run(tx, steps, values=None, read=None, objective=loss):
  """Params after each of `steps` gradtx updates (jitted), and `read(state)` before each."""
  params = {k: jnp.asarray(v) for k, v in INIT.items()}
  state = tx.init(params)
  grad = jax.grad(lambda q: objective(q, jnp))

  @jax.jit
  def step(params, state, value):
    g = grad(params)
    extra = {} if value is None else {"value": value}
    u, state = tx.update(g, state, params, **extra)
    return gradtx.apply_updates(params, u), state

  traj, seen = [], []
  for k in range(steps):
    if read:
      seen.append(read(state))
    params, state = step(params, state, None if values is None else jnp.asarray(values[k]))
    traj.append({n: np.asarray(v) for n, v in params.items()})
  return traj, seen, state


def assert_same_trajectory(ours, theirs, rtol=1e-8):
  """Every step, every leaf: `||ours - theirs|| <= rtol * ||theirs||`."""
  assert len(ours) == len(theirs)
  for k, (a, b) in enumerate(zip(ours, theirs)):
    for name in b:
      diff = np.linalg.norm(np.ravel(a[name] - b[name]))
      scale = np.linalg.norm(np.ravel(b[name]))
      assert diff <= rtol * scale, (k, name, diff / scale)
