"""Schedule-Free (`gradtx.contrib.schedule_free*`) against the authors' `schedulefree`
package (`AdamWScheduleFree`, `SGDScheduleFree`, float64) step by step, and against
`optax.contrib` where Optax agrees with it (no warm-up)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import schedulefree

import gradtx
from _contrib_problems import gradtx_steps, mlp_problem, torch64, torch_steps  # noqa: F401
from gradtx.contrib import (schedule_free, schedule_free_adamw, schedule_free_eval_params,
                            schedule_free_sgd)

pytestmark = pytest.mark.usefixtures("x64", "torch64")

STEPS = 60


def _problem(seed=0):
  return mlp_problem(seed)


def _run_gradtx(opt, params, grad_fn, steps=STEPS):
  return list(gradtx_steps(opt, params, grad_fn, steps, extra=schedule_free_eval_params))


def _run_reference(make, params, grad_fn, steps=STEPS):
  def y_and_x(opt, tp, y):
    opt.eval()
    x = {k: v.detach().numpy().copy() for k, v in tp.items()}
    opt.train()
    return y, x

  def make_train(ps):
    opt = make(ps)
    opt.train()
    return opt
  return list(torch_steps(make_train, params, grad_fn, steps, y_and_x))


def _assert_same(ours, ref, rtol=1e-7):
  for t, ((y, x), (ry, rx)) in enumerate(zip(ours, ref)):
    for k in ry:
      for a, b, what in ((y, ry, "y"), (x, rx, "x")):
        np.testing.assert_allclose(np.asarray(a[k]), b[k], rtol=rtol,
                                   atol=rtol * np.abs(b[k]).max(),
                                   err_msg=f"step {t + 1}, {what}[{k}]")


@pytest.mark.parametrize("kwargs", [
    dict(), dict(warmup_steps=10, weight_decay=0.05),
    dict(warmup_steps=1, b1=0.95, b2=0.99, eps=1e-6, weight_lr_power=1.0, r=0.5),
])
def test_adamw_matches_reference(kwargs):
  params, grad_fn = _problem()
  lr = 0.02
  kw = dict(kwargs)
  ref_kw = dict(lr=lr, betas=(kw.pop("b1", 0.9), kw.pop("b2", 0.999)), eps=kw.pop("eps", 1e-8),
                weight_decay=kw.get("weight_decay", 0.0), warmup_steps=kw.get("warmup_steps", 0),
                r=kw.get("r", 0.0), weight_lr_power=kw.get("weight_lr_power", 2.0), foreach=False)
  ours = _run_gradtx(schedule_free_adamw(lr, b1=ref_kw["betas"][0], b2=ref_kw["betas"][1],
                                         eps=ref_kw["eps"], **kwargs_without(kwargs)),
                     params, grad_fn)
  ref = _run_reference(lambda ps: schedulefree.AdamWScheduleFree(ps, **ref_kw), params, grad_fn)
  _assert_same(ours, ref)


def kwargs_without(kwargs):
  return {k: v for k, v in kwargs.items() if k not in ("b1", "b2", "eps")}


@pytest.mark.parametrize("kwargs", [dict(), dict(warmup_steps=8, weight_decay=0.01, b1=0.8)])
def test_sgd_matches_reference(kwargs):
  params, grad_fn = _problem(1)
  lr = 0.3
  ref_kw = dict(lr=lr, momentum=kwargs.get("b1", 0.9), weight_decay=kwargs.get("weight_decay", 0),
                warmup_steps=kwargs.get("warmup_steps", 0), foreach=False)
  ours = _run_gradtx(schedule_free_sgd(lr, **kwargs), params, grad_fn)
  ref = _run_reference(lambda ps: schedulefree.SGDScheduleFree(ps, **ref_kw), params, grad_fn)
  _assert_same(ours, ref)


def test_matches_optax_without_warmup():
  params, grad_fn = _problem(2)
  ours = _run_gradtx(schedule_free_adamw(0.01, weight_decay=0.01), params, grad_fn)
  theirs = _run_gradtx(optax.contrib.schedule_free_adamw(0.01, weight_decay=0.01), params,
                       grad_fn)
  for (y, x), (ty, tx) in zip(ours, theirs):
    for k in params:
      np.testing.assert_allclose(np.asarray(y[k]), np.asarray(ty[k]), rtol=1e-10)
      np.testing.assert_allclose(np.asarray(x[k]), np.asarray(tx[k]), rtol=1e-9)


def test_warmup_differs_from_optax_which_lags_a_step():
  params, grad_fn = _problem(2)
  ours = _run_gradtx(schedule_free_adamw(0.01, warmup_steps=5), params, grad_fn, steps=1)
  theirs = _run_gradtx(optax.contrib.schedule_free_adamw(0.01, warmup_steps=5), params, grad_fn,
                       steps=1)
  moved = lambda run: max(np.abs(np.asarray(run[0][0][k]) - params[k]).max() for k in params)
  assert moved(theirs) == 0 and moved(ours) > 0  # Optax's first step uses lr = 0


def test_wrapper_of_any_base_optimizer_and_b1_zero():
  params, grad_fn = _problem(3)
  base = gradtx.sgd(0.1)
  ours = _run_gradtx(schedule_free(base, 0.1, b1=0.0), params, grad_fn, steps=5)
  # b1 = 0: y = z, so the iterates are plain SGD's.
  p = jax.tree.map(jnp.asarray, params)
  for t in range(5):
    p = jax.tree.map(lambda a, g: a - 0.1 * g, p, grad_fn(p))
    for k in params:
      np.testing.assert_allclose(np.asarray(ours[t][0][k]), np.asarray(p[k]), rtol=1e-12)


def test_eval_params_of_a_foreign_state_is_a_clear_error():
  params = {"w": jnp.ones(3)}
  with pytest.raises(ValueError, match="ScheduleFreeState"):
    schedule_free_eval_params(gradtx.adam(1e-3).init(params), params)


def test_eval_params_inside_a_chain():
  params, grad_fn = _problem()
  opt = gradtx.chain(gradtx.clip_by_global_norm(1.0), schedule_free_adamw(0.01))
  p = jax.tree.map(jnp.asarray, params)
  s = opt.init(p)
  u, s = jax.jit(opt.update)(grad_fn(p), s, p)
  assert jax.tree.structure(schedule_free_eval_params(s, p)) == jax.tree.structure(p)


def test_nan_gradients_inside_apply_if_finite_and_vmap_over_lr():
  params, grad_fn = _problem()
  p = jax.tree.map(jnp.asarray, params)
  opt = gradtx.apply_if_finite(schedule_free_adamw(0.01), 2)
  s = opt.init(p)
  u, s = jax.jit(opt.update)(jax.tree.map(lambda a: a * jnp.nan, p), s, p)
  assert all(np.all(np.asarray(x) == 0) for x in jax.tree.leaves(u))
  g = grad_fn(p)

  @jax.jit
  def one(lr):
    o = schedule_free_adamw(lr, warmup_steps=3)
    return o.update(g, o.init(p), p)[0]
  lrs = jnp.asarray([0.01, 0.03])
  swept = jax.jit(jax.vmap(one))(lrs)
  for i in range(2):
    single = one(lrs[i])
    for k in p:
      np.testing.assert_allclose(np.asarray(swept[k][i]), np.asarray(single[k]), rtol=1e-12)


@pytest.mark.parametrize("kwargs,name", [({"b1": 1.5}, "b1"), ({"warmup_steps": -1}, "warmup"),
                                         ({"weight_lr_power": -1.0}, "weight_lr_power")])
def test_bad_arguments(kwargs, name):
  with pytest.raises(ValueError, match=name):
    schedule_free_adamw(0.01, **kwargs)
