"""`gradtx.torch_optim.lr_scheduler` against `torch.optim.lr_scheduler` itself, live.

Each case is written once against a scheduler module `L` (PyTorch's or ours: same class
names and arguments) and run by both: the learning rate (and momentum / beta1) that each
of 60 steps uses must agree to 1e-12, and the parameters after each step to 1e-8
(float64, a non-convex problem with four parameter tensors)."""

import numpy as np
import pytest

import torch  # noqa: E402

from gradtx import torch_optim  # noqa: E402
from gradtx.torch_optim import lr_scheduler as ours_L  # noqa: E402

from _torch_problem import (INIT, assert_same_trajectory, gradtx_run, loss,  # noqa: E402
                            torch_run, torch_float64)

pytestmark = pytest.mark.usefixtures("x64", "torch_float64")
theirs_L = torch.optim.lr_scheduler
STEPS = 60
SGD = ("SGD", {"lr": 0.1, "momentum": 0.9})
ADAM = ("Adam", {"lr": 0.05})
ADAGRAD = ("Adagrad", {"lr": 0.1})
slow = pytest.mark.slow

CASES = {
    "LambdaLR": (SGD, lambda L, o: L.LambdaLR(o, lambda e: 0.95 ** e)),
    "MultiplicativeLR": (SGD, lambda L, o: L.MultiplicativeLR(o, lambda e: 0.97)),
    "StepLR": (SGD, lambda L, o: L.StepLR(o, step_size=7, gamma=0.5)),
    "MultiStepLR": (SGD, lambda L, o: L.MultiStepLR(o, milestones=[5, 12, 12, 30], gamma=0.5)),
    "ConstantLR": (ADAM, lambda L, o: L.ConstantLR(o, factor=0.5, total_iters=8)),
    "LinearLR": (SGD, lambda L, o: L.LinearLR(o, start_factor=0.2, end_factor=0.9,
                                              total_iters=20)),
    "ExponentialLR": (SGD, lambda L, o: L.ExponentialLR(o, gamma=0.97)),
    "PolynomialLR": (SGD, lambda L, o: L.PolynomialLR(o, total_iters=30, power=2.0)),
    "CosineAnnealingLR-past-T_max": (SGD, lambda L, o: L.CosineAnnealingLR(o, T_max=20,
                                                                           eta_min=0.01)),
    "CosineAnnealingWarmRestarts": (SGD, lambda L, o: L.CosineAnnealingWarmRestarts(
        o, T_0=7, T_mult=2, eta_min=0.001)),
    "CyclicLR-triangular2-momentum": (SGD, lambda L, o: L.CyclicLR(
        o, base_lr=0.01, max_lr=0.1, step_size_up=5, step_size_down=8, mode="triangular2")),
    "CyclicLR-exp_range-beta1": (ADAM, lambda L, o: L.CyclicLR(
        o, base_lr=0.001, max_lr=0.05, step_size_up=6, mode="exp_range", gamma=0.97)),
    "CyclicLR-triangular-no-momentum": (ADAGRAD, lambda L, o: L.CyclicLR(
        o, base_lr=0.01, max_lr=0.2, step_size_up=4, cycle_momentum=False)),
    "OneCycleLR-cos-beta1": (ADAM, lambda L, o: L.OneCycleLR(o, max_lr=0.05, total_steps=60)),
    "OneCycleLR-linear-three_phase": (SGD, lambda L, o: L.OneCycleLR(
        o, max_lr=0.1, total_steps=60, anneal_strategy="linear", three_phase=True)),
    "SequentialLR": (SGD, lambda L, o: L.SequentialLR(
        o, [L.LinearLR(o, start_factor=0.1, total_iters=5), L.CosineAnnealingLR(o, T_max=20)],
        milestones=[5])),
    "SequentialLR-three": (ADAM, lambda L, o: L.SequentialLR(
        o, [L.ConstantLR(o, factor=0.3, total_iters=4), L.ExponentialLR(o, gamma=0.9),
            L.StepLR(o, step_size=6, gamma=0.5)], milestones=[10, 30])),
    "ChainedScheduler": (SGD, lambda L, o: L.ChainedScheduler(
        [L.ConstantLR(o, factor=0.5, total_iters=10), L.ExponentialLR(o, gamma=0.95)])),
    "ChainedScheduler-cosine-eta_min": (SGD, lambda L, o: L.ChainedScheduler(
        [L.LinearLR(o, start_factor=0.25, total_iters=8),
         L.CosineAnnealingLR(o, T_max=15, eta_min=0.02)])),
}
DEFAULT = {"CosineAnnealingLR-past-T_max", "CyclicLR-triangular2-momentum",
           "OneCycleLR-linear-three_phase", "SequentialLR", "ChainedScheduler-cosine-eta_min"}


def _torch_read(opt, sched):
  g = opt.param_groups[0]
  m = g["betas"][0] if "betas" in g else g.get("momentum", 0.0)
  return float(g["lr"]), float(m)


def _ours_read(state):
  h = state.hyperparams
  return float(h["lr"]), float(h.get("momentum", np.nan))


def _run_both(opt_spec, sched_spec, values=None):
  name, kwargs = opt_spec
  theirs, t_seen = torch_run(lambda ps: getattr(torch.optim, name)(ps, **kwargs), STEPS,
                             lambda o: sched_spec(theirs_L, o), values, _torch_read)
  tx = sched_spec(ours_L, getattr(torch_optim, name)(**kwargs))
  ours, o_seen, _ = gradtx_run(tx, STEPS, values, _ours_read)
  return theirs, np.array(t_seen), ours, np.array(o_seen), tx


@pytest.mark.parametrize("case", [pytest.param(k, marks=() if k in DEFAULT else (slow,))
                                  for k in CASES])
def test_matches_torch(case):
  opt_spec, sched_spec = CASES[case]
  theirs, t_seen, ours, o_seen, tx = _run_both(opt_spec, sched_spec)
  np.testing.assert_allclose(o_seen[:, 0], t_seen[:, 0], rtol=1e-12, atol=0)
  if tx.rule.cycles_momentum:
    np.testing.assert_allclose(o_seen[:, 1], t_seen[:, 1], rtol=1e-12)
  assert_same_trajectory(ours, theirs)


def test_cosine_annealing_rises_past_t_max():
  """The case above runs 60 steps with T_max=20: the rate goes back up after step 20."""
  _, t_seen, _, o_seen, _ = _run_both(*CASES["CosineAnnealingLR-past-T_max"])
  assert o_seen[40, 0] > o_seen[21, 0] and t_seen[40, 0] > t_seen[21, 0]


PLATEAU_VALUES = [1.0, 0.95, 0.96, 0.94, 0.97, 0.97, 0.5, 0.49, 0.49, 0.6] * 6


@pytest.mark.parametrize("kwargs", [
    {"factor": 0.5, "patience": 2, "threshold": 0.1, "cooldown": 3},
    pytest.param({"mode": "max", "factor": 0.3, "patience": 1, "threshold": 0.02,
                  "threshold_mode": "abs", "cooldown": 1, "min_lr": 0.004}, marks=slow),
])
def test_reduce_lr_on_plateau_matches_torch(kwargs):
  spec = lambda L, o: L.ReduceLROnPlateau(o, **kwargs)
  theirs, t_seen, ours, o_seen, _ = _run_both(SGD, spec, PLATEAU_VALUES)
  assert len(set(t_seen[:, 0])) >= 3  # the rate was really reduced, more than once
  np.testing.assert_allclose(o_seen[:, 0], t_seen[:, 0], rtol=1e-12)
  assert_same_trajectory(ours, theirs)


def test_epoch_stepped_matches_torch():
  """`steps_per_epoch=4`: PyTorch's loop stepping the scheduler after every 4th step."""
  p = {k: torch.nn.Parameter(torch.tensor(v)) for k, v in INIT.items()}
  opt = torch.optim.SGD(list(p.values()), lr=0.1, momentum=0.9)
  sched = theirs_L.StepLR(opt, step_size=3, gamma=0.5)
  theirs = []
  for k in range(STEPS):
    opt.zero_grad()
    loss(p, torch).backward()
    opt.step()
    if (k + 1) % 4 == 0:
      sched.step()
    theirs.append({n: t.detach().numpy().copy() for n, t in p.items()})
  tx = ours_L.StepLR(torch_optim.SGD(lr=0.1, momentum=0.9), step_size=3, gamma=0.5,
                     steps_per_epoch=4)
  ours, _, state = gradtx_run(tx, STEPS)
  assert_same_trajectory(ours, theirs)
  assert float(ours_L.last_lr(state)) == pytest.approx(sched.get_last_lr()[0], rel=1e-12)


@pytest.mark.parametrize("build,match", [
    (lambda o: ours_L.OneCycleLR(o, max_lr=0.1, total_steps=0), "total_steps"),
    (lambda o: ours_L.OneCycleLR(o, max_lr=0.1, total_steps=10, anneal_strategy="exp"),
     "anneal_strategy"),
    (lambda o: ours_L.OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=1), "pct_start"),
    (lambda o: ours_L.CyclicLR(o, 0.01, 0.1, mode="square"), "mode"),
    (lambda o: ours_L.ReduceLROnPlateau(o, mode="lowest"), "mode"),
    (lambda o: ours_L.ReduceLROnPlateau(o, threshold_mode="pct"), "threshold_mode"),
    (lambda o: ours_L.ReduceLROnPlateau(o, factor=1.5), "factor"),
    (lambda o: ours_L.ConstantLR(o, factor=1.5), "factor"),
    (lambda o: ours_L.LinearLR(o, start_factor=0.0), "start_factor"),
    (lambda o: ours_L.StepLR(o, step_size=3, last_epoch=4), "initial_lr"),
    (lambda o: ours_L.StepLR(o, step_size=3, last_epoch=-2, initial_lr=0.1), "last_epoch"),
    (lambda o: ours_L.OneCycleLR(o, max_lr=0.1, total_steps=10, last_epoch=3), "last_epoch"),
    (lambda o: ours_L.CyclicLR(o, 0.01, 0.1, last_epoch=3), "last_epoch"),
    (lambda o: ours_L.CosineAnnealingWarmRestarts(o, T_0=3, last_epoch=3), "last_epoch"),
    (lambda o: ours_L.CosineAnnealingWarmRestarts(o, T_0=0), "T_0"),
    (lambda o: ours_L.SequentialLR(o, [ours_L.StepLR(o, 2)], milestones=[3]), "milestones"),
])
def test_invalid_arguments_refused_at_construction(build, match):
  with pytest.raises(ValueError, match=match):
    build(torch_optim.SGD(lr=0.1, momentum=0.9))


def test_momentum_cycling_needs_momentum():
  with pytest.raises(ValueError, match="momentum"):
    ours_L.CyclicLR(torch_optim.Adagrad(lr=0.1), 0.01, 0.1)
  with pytest.raises(TypeError, match="ChainedScheduler"):
    ours_L.StepLR(ours_L.StepLR(torch_optim.SGD(lr=0.1), 2), 3)


RESUME = {
    "LambdaLR": lambda L, o, k: L.LambdaLR(o, lambda e: 0.95 ** e, last_epoch=k),
    "MultiplicativeLR": lambda L, o, k: L.MultiplicativeLR(o, lambda e: 0.97, last_epoch=k),
    "StepLR": lambda L, o, k: L.StepLR(o, step_size=4, gamma=0.5, last_epoch=k),
    "MultiStepLR": lambda L, o, k: L.MultiStepLR(o, milestones=[8, 12, 30], gamma=0.5,
                                                 last_epoch=k),
    "ConstantLR": lambda L, o, k: L.ConstantLR(o, factor=0.5, total_iters=8, last_epoch=k),
    "LinearLR": lambda L, o, k: L.LinearLR(o, start_factor=0.2, end_factor=0.9,
                                           total_iters=20, last_epoch=k),
    "ExponentialLR": lambda L, o, k: L.ExponentialLR(o, gamma=0.97, last_epoch=k),
    "PolynomialLR": lambda L, o, k: L.PolynomialLR(o, total_iters=30, power=2.0, last_epoch=k),
    "CosineAnnealingLR": lambda L, o, k: L.CosineAnnealingLR(o, T_max=10, eta_min=0.01,
                                                             last_epoch=k),
}


@pytest.mark.parametrize("k", [0, 3, 7])
@pytest.mark.parametrize("case", [pytest.param(c, marks=() if c in ("StepLR", "CosineAnnealingLR")
                                               else (slow,)) for c in RESUME])
def test_last_epoch_resume_matches_torch(case, k):
  """PyTorch's resuming constructor: the group's lr is 0.06 (the current one), its
  `initial_lr` 0.1 (ours: `initial_lr=`); construction steps to epoch k + 1 from there.
  Learning rates of 30 steps to 1e-12, params to 1e-8."""
  build = RESUME[case]

  def make(ps):
    opt = torch.optim.SGD(ps, lr=0.06, momentum=0.9)
    opt.param_groups[0]["initial_lr"] = 0.1
    return opt

  steps = 30
  theirs, t_seen = torch_run(make, steps, lambda o: build(theirs_L, o, k), None, _torch_read)
  tx = build(_resume_L(0.1), torch_optim.SGD(lr=0.06, momentum=0.9), k)
  ours, o_seen, _ = gradtx_run(tx, steps, None, _ours_read)
  np.testing.assert_allclose(np.array(o_seen)[:, 0], np.array(t_seen)[:, 0], rtol=1e-12, atol=0)
  assert_same_trajectory(ours, theirs)


class _resume_L:
  """`ours_L` with `initial_lr=` added to every call (PyTorch reads it from the group)."""

  def __init__(self, initial_lr):
    self.initial_lr = initial_lr

  def __getattr__(self, name):
    return lambda *a, **kw: getattr(ours_L, name)(*a, initial_lr=self.initial_lr, **kw)
