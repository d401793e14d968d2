"""`gradtx.torch_optim` against `torch.optim` itself, live: float64, 60 steps of a non-convex
problem with four parameter tensors, relative difference < 1e-8 at every step, over the
configurations of PyTorch's own optimizer test sweep (`optim_inputs_func` of each
`OptimizerInfo` in torch/testing/_internal/common_optimizers.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import torch  # noqa: E402  (the test extra; torch.testing needs expecttest)
from torch.testing._internal import common_optimizers  # noqa: E402
from test_contrib_muon import torch_muon64  # noqa: E402,F401  (fixture)

import gradtx  # noqa: E402
from gradtx import torch_optim  # noqa: E402

from _torch_problem import (INIT, assert_same_trajectory, gradtx_run, loss,  # noqa: E402
                            regularized_loss, torch_run, torch_float64)

pytestmark = pytest.mark.usefixtures("x64", "torch_float64")

STEPS = 60
NAMES = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam",
         "Rprop", "ASGD"]


def _sweep():
  infos = {info.optim_cls.__name__: info for info in common_optimizers.optim_db}
  cases = []
  for name in NAMES:
    inputs = infos[name].optim_inputs_func(device="cpu", dtype=torch.float64)
    for i, inp in enumerate(inputs):
      kwargs = {k: (float(v) if isinstance(v, torch.Tensor) else v) for k, v in inp.kwargs.items()}
      marks = () if i == 0 else (pytest.mark.slow,)
      cases.append(pytest.param(name, kwargs, id=f"{name}-{inp.desc}", marks=marks))
  return cases


SWEEP = _sweep()


def test_sweep_covers_every_config():
  """The sweep is read from PyTorch's file: every optimizer here, dozens of configs."""
  assert {p.values[0] for p in SWEEP} == set(NAMES)
  assert len(SWEEP) >= 60


@pytest.mark.parametrize("name,kwargs", SWEEP)
def test_matches_torch(name, kwargs):
  theirs, _ = torch_run(lambda ps: getattr(torch.optim, name)(ps, **kwargs), STEPS)
  ours, _, _ = gradtx_run(getattr(torch_optim, name)(**kwargs), STEPS)
  assert_same_trajectory(ours, theirs)


def test_asgd_average_matches_torch_ax():
  kwargs = {"t0": 10, "lr": 0.05}
  p = {k: torch.nn.Parameter(torch.tensor(v)) for k, v in INIT.items()}
  opt = torch.optim.ASGD(list(p.values()), **kwargs)
  for _ in range(30):
    opt.zero_grad()
    loss(p, torch).backward()
    opt.step()
  _, _, state = gradtx_run(torch_optim.ASGD(**kwargs), 30)
  avg = torch_optim.asgd_average(state)
  for name, t in p.items():
    np.testing.assert_allclose(np.asarray(avg[name]), opt.state[t]["ax"].numpy(), rtol=1e-9)


@pytest.mark.parametrize("kwargs", [
    pytest.param({"lr": 1e-3, "momentum": 0.9, "nesterov": True}, marks=pytest.mark.slow),
    pytest.param({"lr": 1e-3}, marks=pytest.mark.slow),
    pytest.param({"lr": 1e-3, "momentum": 0.9}, marks=pytest.mark.slow)])
def test_sgd_without_dampening_is_native_sgd(kwargs):
  """With dampening 0 torch_optim.SGD is gradtx.sgd's chain (same numbers, same stages)."""
  native = gradtx.sgd(kwargs["lr"], kwargs.get("momentum"), kwargs.get("nesterov", False))
  ours, _, _ = gradtx_run(torch_optim.SGD(**kwargs), 10)
  theirs, _, _ = gradtx_run(native, 10)
  theirs_torch, _ = torch_run(lambda ps: torch.optim.SGD(ps, **kwargs), 10)
  assert_same_trajectory(ours, theirs_torch)
  assert_same_trajectory(theirs, theirs_torch)


@pytest.mark.parametrize("max_norm,norm_type", [(0.5, 2.0), (0.3, 1.0), (0.2, float("inf")),
                                                (100.0, 2.0), (0.4, 3.0)])
def test_clip_grad_norm_matches_torch(max_norm, norm_type):
  rng = np.random.default_rng(1)
  grads = {"a": rng.normal(size=(5, 3)), "b": rng.normal(size=(4,)), "c": np.asarray(0.7)}
  ts = [torch.tensor(g).requires_grad_() for g in grads.values()]
  for t, g in zip(ts, grads.values()):
    t.grad = torch.tensor(g).clone()
  torch.nn.utils.clip_grad_norm_(ts, max_norm, norm_type=norm_type)
  tx = torch_optim.clip_grad_norm(max_norm, norm_type)
  out, _ = tx.update({k: jnp.asarray(v) for k, v in grads.items()}, tx.init(grads))
  for t, k in zip(ts, grads):
    np.testing.assert_allclose(np.asarray(out[k]), t.grad.numpy(), rtol=1e-12)


def test_clip_grad_value_matches_torch():
  g = np.random.default_rng(2).normal(size=(6, 2))
  t = torch.tensor(g).requires_grad_()
  t.grad = torch.tensor(g).clone()
  torch.nn.utils.clip_grad_value_([t], 0.5)
  out, _ = torch_optim.clip_grad_value(0.5).update(jnp.asarray(g), None)
  np.testing.assert_array_equal(np.asarray(out), t.grad.numpy())


def test_clipped_adamw_chain_matches_torch():
  """`clip_grad_norm_` then `AdamW.step()` is `chain(clip_grad_norm, AdamW)`."""
  p = {k: torch.nn.Parameter(torch.tensor(v)) for k, v in INIT.items()}
  opt = torch.optim.AdamW(list(p.values()), lr=0.01)
  theirs = []
  for _ in range(STEPS):
    opt.zero_grad()
    loss(p, torch).backward()
    torch.nn.utils.clip_grad_norm_(list(p.values()), 0.5)
    opt.step()
    theirs.append({n: t.detach().numpy().copy() for n, t in p.items()})
  tx = gradtx.chain(torch_optim.clip_grad_norm(0.5), torch_optim.AdamW(lr=0.01))
  ours, _, _ = gradtx_run(tx, STEPS)
  assert_same_trajectory(ours, theirs)


@pytest.mark.parametrize("name,kwargs,match", [
    ("SGD", {"lr": -0.1}, "lr=-0.1"),
    ("SGD", {"momentum": -0.5}, "momentum"),
    ("SGD", {"nesterov": True}, "nesterov"),
    ("SGD", {"weight_decay": -1.0}, "weight_decay"),
    ("Adam", {"betas": (1.0, 0.999)}, r"betas\[0\]"),
    ("AdamW", {"betas": (0.9, -0.1)}, r"betas\[1\]"),
    ("Adam", {"eps": -1e-8}, "eps"),
    ("NAdam", {"momentum_decay": -1.0}, "momentum_decay"),
    ("RAdam", {"lr": -1.0}, "lr"),
    ("Adamax", {"betas": (0.9, 1.5)}, r"betas\[1\]"),
    ("RMSprop", {"alpha": -0.1}, "alpha"),
    ("Adagrad", {"lr_decay": -0.1}, "lr_decay"),
    ("Adagrad", {"initial_accumulator_value": -1.0}, "initial_accumulator_value"),
    ("Adadelta", {"rho": 1.5}, "rho"),
    ("Rprop", {"etas": (1.5, 1.2)}, "etas"),
    ("ASGD", {"lr": -0.01}, "lr"),
])
def test_invalid_arguments_refused_at_construction(name, kwargs, match):
  with pytest.raises(ValueError, match=match):
    getattr(torch_optim, name)(**kwargs)
  with pytest.raises(ValueError):  # PyTorch refuses the same values
    getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kwargs)


def test_vmap_over_lr_and_jit():
  """A sweep: `jax.vmap` over the learning rate of a torch_optim optimizer (a pytree)."""
  params = {k: jnp.asarray(v) for k, v in INIT.items()}
  grad = jax.grad(lambda q: loss(q, jnp))

  def final(lr):
    tx = torch_optim.Adam(lr=lr, betas=(0.8, 0.99))
    p, state = params, tx.init(params)
    for _ in range(3):
      u, state = tx.update(grad(p), state, p)
      p = gradtx.apply_updates(p, u)
    return p

  lrs = jnp.asarray([0.01, 0.03])
  swept = jax.jit(jax.vmap(final))(lrs)
  for i, lr in enumerate([0.01, 0.03]):
    one = final(lr)
    for k in one:
      np.testing.assert_allclose(np.asarray(swept[k][i]), np.asarray(one[k]), rtol=1e-12)


def _step_kernels(tx):
  """Array kernels (ones that stream memory: benchmarks/hlo.py's count) of the jitted,
  donated `update + apply_updates` step on a 3-leaf float32 tree."""
  from benchmarks.hlo import profile
  params = {f"w{i}": jnp.ones((64, 32), jnp.float32) for i in range(3)}

  def step(g, s, p):
    u, s = tx.update(g, s, p)
    return s, gradtx.apply_updates(p, u)

  compiled = jax.jit(step, donate_argnums=(1, 2)).lower(params, tx.init(params), params).compile()
  return profile(compiled.as_text())["array_kernels"]


@pytest.mark.parametrize("name,kwargs,native", [
    ("SGD", {"lr": 1e-3}, lambda: gradtx.sgd(1e-3)),
    ("SGD", {"lr": 1e-3, "momentum": 0.9, "nesterov": True},
     lambda: gradtx.sgd(1e-3, 0.9, nesterov=True)),
    ("SGD", {"lr": 1e-3, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0,
             "maximize": False}, lambda: gradtx.sgd(1e-3, 0.9)),
    ("Adam", {"lr": 1e-3, "weight_decay": 0, "amsgrad": False}, lambda: gradtx.adam(1e-3)),
    ("AdamW", {"lr": 1e-3}, lambda: gradtx.adamw(1e-3, weight_decay=1e-2)),
    ("RMSprop", {"lr": 1e-2, "centered": True, "momentum": 0.9},
     lambda: gradtx.rmsprop(1e-2, 0.99, 1e-8, eps_in_sqrt=False, centered=True, momentum=0.9)),
    ("Adagrad", {"lr": 1e-2, "lr_decay": 0.0},
     lambda: gradtx.adagrad(1e-2, 0.0, 1e-10, eps_in_sqrt=False)),
    ("Adamax", {"lr": 2e-3}, lambda: gradtx.adamax(2e-3)),
])
def test_same_array_kernels_as_native(name, kwargs, native):
  """Options left at their off values (dampening, maximize, weight_decay, lr_decay) cost
  no kernel: the step streams memory in as many kernels as the native optimizer's (per
  leaf: one per state array and one for the param)."""
  import sys
  sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[1]))
  jax.config.update("jax_enable_x64", False)
  try:
    assert _step_kernels(getattr(torch_optim, name)(**kwargs)) == _step_kernels(native())
  finally:
    jax.config.update("jax_enable_x64", True)


def _muon_configs():
  info = next(i for i in common_optimizers.optim_db if i.optim_cls.__name__ == "Muon")
  cases = []
  for i, inp in enumerate(info.optim_inputs_func(device="cpu", dtype=torch.float64)):
    kwargs = {k: (float(v) if isinstance(v, torch.Tensor) else v) for k, v in inp.kwargs.items()}
    cases.append(pytest.param(kwargs, id=f"Muon-{inp.desc}",
                              marks=() if i == 0 else (pytest.mark.slow,)))
  return cases


@pytest.mark.parametrize("kwargs", _muon_configs() + [
    pytest.param({"lr": 0.01, "adjust_lr_fn": "match_rms_adamw", "nesterov": False},
                 marks=pytest.mark.slow, id="Muon-match_rms_adamw")])
def test_muon_matches_torch(torch_muon64, kwargs):
  """Matrices only (as PyTorch's Muon); JAX weights `(in, out)` are torch's transposed;
  torch's Newton-Schulz runs in float64 (`torch_muon64`, from tests/test_contrib_muon.py)."""
  rng = np.random.default_rng(4)
  x, y = rng.normal(size=(8, 4)), rng.normal(size=(8, 2))
  init = {"W1": rng.normal(size=(4, 5)), "W2": rng.normal(size=(5, 2))}

  def f(p, lib, t):
    w1, w2 = (p["W1"].T, p["W2"].T) if t else (p["W1"], p["W2"])
    xx, yy = (torch.tensor(x), torch.tensor(y)) if t else (jnp.asarray(x), jnp.asarray(y))
    return ((lib.tanh(xx @ w1) @ w2 - yy) ** 2).mean() + 0.1 * lib.sin(2 * w1).sum()

  tp = {k: torch.nn.Parameter(torch.tensor(v.T.copy())) for k, v in init.items()}
  opt = torch_muon64(list(tp.values()), **kwargs)
  tx = torch_optim.Muon(**kwargs)
  p = {k: jnp.asarray(v) for k, v in init.items()}
  state = tx.init(p)
  step = jax.jit(lambda p, s: tx.update(jax.grad(lambda q: f(q, jnp, False))(p), s, p))
  for k in range(STEPS):
    opt.zero_grad()
    f(tp, torch, True).backward()
    opt.step()
    u, state = step(p, state)
    p = gradtx.apply_updates(p, u)
    assert_same_trajectory([p], [{n: t.detach().numpy().T for n, t in tp.items()}])


def test_muon_refuses_non_matrix_params():
  with pytest.raises(ValueError, match="2D"):
    torch_optim.Muon().init({"w": jnp.ones((3, 3)), "b": jnp.ones(3)})
  with pytest.raises(ValueError, match="adjust_lr_fn"):
    torch_optim.Muon(adjust_lr_fn="spectral")


def _lbfgs_configs():
  info = next(i for i in common_optimizers.optim_db if i.optim_cls.__name__ == "LBFGS")
  cases = []
  for i, inp in enumerate(info.optim_inputs_func(device="cpu", dtype=torch.float64)):
    kwargs = {k: (float(v) if isinstance(v, torch.Tensor) else v) for k, v in inp.kwargs.items()}
    if kwargs.get("line_search_fn") is not None:
      continue  # refused: test_lbfgs_refuses_strong_wolfe
    for max_iter in (1, 4):
      cases.append(pytest.param(dict(kwargs, max_iter=max_iter), id=f"LBFGS-{inp.desc}-{max_iter}",
                                marks=() if (i, max_iter) == (0, 4) else (pytest.mark.slow,)))
  return cases


@pytest.mark.parametrize("kwargs", _lbfgs_configs())
def test_lbfgs_matches_torch_inner_iterations(kwargs):
  """`max_iter` updates are one PyTorch `step(closure)`: params agree after every step
  (on `regularized_loss`; 6 steps of 4 iterations, before PyTorch's tolerance stops)."""
  k = kwargs["max_iter"]
  steps = 60 if k == 1 else 6
  p = {n: torch.nn.Parameter(torch.tensor(v)) for n, v in INIT.items()}
  opt = torch.optim.LBFGS(list(p.values()), **kwargs)

  def closure():
    opt.zero_grad()
    out = regularized_loss(p, torch)
    out.backward()
    return out

  theirs = []
  for _ in range(steps):
    opt.step(closure)
    theirs.append({n: t.detach().numpy().copy() for n, t in p.items()})
  assert opt.state[opt._params[0]]["n_iter"] == steps * k  # no early stop: k iterations a step
  ours, _, _ = gradtx_run(torch_optim.LBFGS(**kwargs), steps * k, objective=regularized_loss)
  assert_same_trajectory(ours[k - 1::k], theirs)


def _wolfe_configs():
  info = next(i for i in common_optimizers.optim_db if i.optim_cls.__name__ == "LBFGS")
  seen, cases = set(), []
  for inp in info.optim_inputs_func(device="cpu", dtype=torch.float64):
    kwargs = {k: (float(v) if isinstance(v, torch.Tensor) else v) for k, v in inp.kwargs.items()}
    for max_iter in (1, 4, 20):
      kw = dict(kwargs, line_search_fn="strong_wolfe", max_iter=max_iter)
      if repr(sorted(kw.items())) in seen:
        continue
      seen.add(repr(sorted(kw.items())))
      cases.append(pytest.param(kw, id=f"LBFGS-wolfe-{inp.desc}-{max_iter}",
                                marks=() if len(cases) == 2 else (pytest.mark.slow,)))
  return cases


def _wolfe_compare(kwargs, steps, objective):
  p = {n: torch.nn.Parameter(torch.tensor(v)) for n, v in INIT.items()}
  opt = torch.optim.LBFGS(list(p.values()), **kwargs)

  def closure():
    opt.zero_grad()
    out = objective(p, torch)
    out.backward()
    return out

  tx = torch_optim.LBFGS(**kwargs)
  q = {k: jnp.asarray(v) for k, v in INIT.items()}
  state = tx.init(q)
  f = lambda q: objective(q, jnp)  # noqa: E731
  step = jax.jit(lambda q, s: tx.update(jax.grad(f)(q), s, q, value=f(q), value_fn=f))
  for _ in range(steps):
    opt.step(closure)
    u, state = step(q, state)
    q = gradtx.apply_updates(q, u)
    assert_same_trajectory([q], [{n: t.detach().numpy() for n, t in p.items()}])
    torch_state = opt.state[opt._params[0]]
    assert int(state.lbfgs.n_iter) == torch_state["n_iter"]
    assert int(state.func_evals) == torch_state["func_evals"]


@pytest.mark.parametrize("kwargs", _wolfe_configs())
def test_lbfgs_strong_wolfe_matches_torch_steps(kwargs):
  """One `update` is one `step(closure)` with PyTorch's strong-Wolfe search: params,
  iteration and evaluation counts agree after each of 5 steps (up to 100 iterations) on
  `regularized_loss`. Later steps sit at PyTorch's `tolerance_change` decisions near the
  minimum, where PyTorch against itself with the params scaled by 1 + 1e-15 already
  differs by 1e-5 (lr=1e-2, 1e-3): docs/porting_from_pytorch.md."""
  _wolfe_compare(kwargs, 5, regularized_loss)


@pytest.mark.slow
def test_lbfgs_strong_wolfe_nonconvex_60_iterations():
  """60 steps of one iteration each (its search included) on the plain non-convex loss."""
  _wolfe_compare({"line_search_fn": "strong_wolfe", "max_iter": 1}, 60, loss)


def test_lbfgs_refuses_unknown_line_search():
  with pytest.raises(ValueError, match="line_search_fn"):
    torch_optim.LBFGS(line_search_fn="backtracking")
  with pytest.raises(ValueError, match="value_fn"):
    tx = torch_optim.LBFGS(line_search_fn="strong_wolfe")
    tx.update({"w": jnp.ones(2)}, tx.init({"w": jnp.ones(2)}), {"w": jnp.ones(2)})
