"""Prodigy and D-Adaptation AdamW (`gradtx.contrib.prodigy`, `dadapt_adamw`) against the
authors' `prodigyopt.Prodigy` and `dadaptation.DAdaptAdam` (float64, step by step), and
against `optax.contrib` where Optax agrees with them (bias correction on)."""

from __future__ import annotations

import dadaptation
import jax
import jax.numpy as jnp
import numpy as np
import optax
import prodigyopt
import pytest

import gradtx
from _contrib_problems import gradtx_steps, mlp_problem, torch64, torch_steps  # noqa: F401
from gradtx.contrib import dadapt_adamw, prodigy

pytestmark = pytest.mark.usefixtures("x64", "torch64")

STEPS = 60


def _problem(seed=0):
  return mlp_problem(seed)


def _run_gradtx(opt, params, grad_fn, steps=STEPS):
  run = list(gradtx_steps(opt, params, grad_fn, steps))
  return [p for p, _ in run], run[-1][1]


def _run_reference(make, params, grad_fn, steps=STEPS):
  final = {}

  def keep_d(opt, tp, current):
    final["d"] = opt.param_groups[0]["d"]
    return current
  out = list(torch_steps(make, params, grad_fn, steps, keep_d))
  return out, final["d"]


def _assert_same(ours, ref, rtol=1e-7):
  for t, (a, b) in enumerate(zip(ours, ref)):
    for k in b:
      np.testing.assert_allclose(np.asarray(a[k]), b[k], rtol=rtol, atol=rtol * np.abs(b[k]).max(),
                                 err_msg=f"step {t + 1}, leaf {k}")


PRODIGY_CASES = [
    dict(),
    dict(weight_decay=0.1, use_bias_correction=True),
    dict(weight_decay=0.05, decouple=False, safeguard_warmup=True, estim_lr_coef=2.0),
    dict(growth_rate=1.02, betas=(0.0, 0.99), beta3=0.9, eps=1e-6),
]


@pytest.mark.parametrize("kwargs", PRODIGY_CASES)
def test_prodigy_matches_reference(kwargs):
  params, grad_fn = _problem()
  kw = dict(kwargs)
  ref_kw = dict(lr=1.0, betas=kw.get("betas", (0.9, 0.999)), beta3=kw.get("beta3"),
                eps=kw.get("eps", 1e-8), weight_decay=kw.get("weight_decay", 0.0),
                decouple=kw.get("decouple", True),
                use_bias_correction=kw.get("use_bias_correction", False),
                safeguard_warmup=kw.get("safeguard_warmup", False),
                d_coef=kw.get("estim_lr_coef", 1.0), growth_rate=kw.get("growth_rate", np.inf))
  ours, state = _run_gradtx(prodigy(**kwargs), params, grad_fn)
  ref, d = _run_reference(lambda ps: prodigyopt.Prodigy(ps, **ref_kw), params, grad_fn)
  _assert_same(ours, ref)
  np.testing.assert_allclose(float(state.estim_lr), d, rtol=1e-7)
  assert d > 1e-5  # the estimate grew: the test exercises the adaptation


DADAPT_CASES = [
    dict(),
    dict(weight_decay=0.1, use_bias_correction=True),
    dict(weight_decay=0.05, decouple=False, growth_rate=1.05, betas=(0.8, 0.99), eps=1e-6),
]


@pytest.mark.parametrize("kwargs", DADAPT_CASES)
def test_dadapt_matches_reference(kwargs):
  params, grad_fn = _problem(1)
  kw = dict(kwargs)
  ref_kw = dict(lr=1.0, betas=kw.get("betas", (0.9, 0.999)), eps=kw.get("eps", 1e-8),
                weight_decay=kw.get("weight_decay", 0.0), decouple=kw.get("decouple", True),
                use_bias_correction=kw.get("use_bias_correction", False),
                growth_rate=kw.get("growth_rate", np.inf))
  ours, state = _run_gradtx(dadapt_adamw(**kwargs), params, grad_fn)
  ref, d = _run_reference(lambda ps: dadaptation.DAdaptAdam(ps, **ref_kw), params, grad_fn)
  _assert_same(ours, ref)
  np.testing.assert_allclose(float(state.estim_lr), d, rtol=1e-7)
  assert d > 1e-5


@pytest.mark.parametrize("name", ["prodigy", "dadapt_adamw"])
def test_matches_optax_with_bias_correction(name):
  params, grad_fn = _problem(2)
  ours = getattr(gradtx.contrib, name)(0.5, weight_decay=0.01, use_bias_correction=True)
  theirs = getattr(optax.contrib, name)(0.5, weight_decay=0.01)
  a, _ = _run_gradtx(ours, params, grad_fn, 30)
  b, _ = _run_gradtx(theirs, params, grad_fn, 30)
  _assert_same(a, [{k: np.asarray(v) for k, v in p.items()} for p in b], rtol=1e-9)


@pytest.mark.parametrize("make", [prodigy, dadapt_adamw])
def test_zero_gradient_skips_the_step_instead_of_nan(make):
  params = {"w": jnp.ones((3, 2))}
  opt = make()
  u, s = jax.jit(opt.update)({"w": jnp.zeros((3, 2))}, opt.init(params), params)
  assert np.all(np.asarray(u["w"]) == 0) and int(s.count) == 0
  assert float(s.estim_lr) == 1e-6


@pytest.mark.parametrize("make", [prodigy, dadapt_adamw])
def test_nan_inside_apply_if_finite_and_vmap_over_lr(make):
  params, grad_fn = _problem()
  p = jax.tree.map(jnp.asarray, params)
  opt = gradtx.apply_if_finite(make(), 2)
  u, s = jax.jit(opt.update)(jax.tree.map(lambda a: a * jnp.nan, p), opt.init(p), p)
  assert all(np.all(np.asarray(x) == 0) for x in jax.tree.leaves(u))
  g = grad_fn(p)

  @jax.jit
  def one(lr):
    o = make(lr)
    s = o.init(p)
    _, s = o.update(g, s, p)
    return o.update(g, s, p)[0]
  lrs = jnp.asarray([0.5, 1.0])
  swept = jax.jit(jax.vmap(one))(lrs)
  for i in range(2):
    single = one(lrs[i])
    for k in p:
      np.testing.assert_allclose(np.asarray(swept[k][i]), np.asarray(single[k]), rtol=1e-12)


@pytest.mark.parametrize("make", [prodigy, dadapt_adamw])
@pytest.mark.parametrize("kwargs,name", [({"betas": (0.9, 1.0)}, "betas"),
                                         ({"estim_lr0": 0.0}, "estim_lr0"),
                                         ({"growth_rate": 0.5}, "growth_rate"),
                                         ({"eps": -1.0}, "eps")])
def test_bad_arguments(make, kwargs, name):
  with pytest.raises(ValueError, match=name):
    make(**kwargs)


def test_prodigy_needs_params():
  opt = prodigy()
  with pytest.raises(ValueError, match="params"):
    opt.update({"w": jnp.ones(2)}, opt.init({"w": jnp.ones(2)}))


@pytest.mark.parametrize("name", ["prodigy", "dadapt_adamw", "schedule_free_adamw"])
def test_odd_leaves_match_optax(name):
  """0-d, 1-D, 4-D conv kernel and a long matrix, in one tree (Optax's arguments)."""
  rng = np.random.default_rng(8)
  params = {"s": jnp.asarray(0.3), "v": jnp.asarray(rng.normal(size=5)),
            "k": jnp.asarray(rng.normal(size=(3, 3, 2, 4))),
            "h": jnp.asarray(rng.normal(size=(2, 5000)))}
  extra = {} if name == "schedule_free_adamw" else {"use_bias_correction": True}
  grad_fn = jax.jit(lambda p: jax.tree.map(lambda x: jnp.sin(3 * x) + 0.1, p))
  ours = [p for p, _ in gradtx_steps(getattr(gradtx.contrib, name)(0.1, **extra), params,
                                     grad_fn, 5)]
  theirs = [p for p, _ in gradtx_steps(getattr(optax.contrib, name)(0.1), params, grad_fn, 5)]
  _assert_same(ours, [{k: np.asarray(v) for k, v in p.items()} for p in theirs], rtol=1e-10)
