"""`reduce_on_plateau` against Optax (positive losses, where they agree) and a NumPy
float64 reference of the rule on `|best|` (negative losses); `sam` and `normalize`
against Optax, and at a zero gradient, where Optax's normalization gives NaN."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from gradtx.contrib import normalize, reduce_on_plateau, sam

pytestmark = pytest.mark.usefixtures("x64")


def _plateau_reference(values, factor, patience, rtol, atol, cooldown, accumulation_size,
                       min_scale):
  """NumPy float64, from the documented rule (written independently of gradtx)."""
  scale, best, plateau, cool, buf, out = 1.0, np.inf, 0, 0, [], []
  for v in values:
    buf.append(v)
    if len(buf) == accumulation_size:
      a = float(np.mean(buf))
      buf = []
      improved = a < (best - rtol * abs(best) - atol if np.isfinite(best) else best)
      if improved:
        best = a
      plateau = 0 if improved else plateau + 1
      if cool > 0:
        cool, plateau = cool - 1, 0
      elif plateau == patience:
        scale, plateau, cool = max(scale * factor, min_scale), 0, cooldown
    out.append(scale)
  return out


def _run(opt, values):
  params = {"w": jnp.ones(3)}
  state = opt.init(params)
  step = jax.jit(lambda s, v: opt.update({"w": jnp.ones(3)}, s, params, value=v))
  scales = []
  for v in values:
    u, state = step(state, v)
    scales.append(float(u["w"][0]))
  return scales


_VALUES = np.concatenate([np.linspace(5, 1, 10), np.full(30, 1.0) + 1e-6 * np.arange(30),
                          np.linspace(1, 0.5, 5), np.full(25, 0.5)])
_KW = [dict(factor=0.5, patience=3, rtol=1e-3, atol=0.0, cooldown=2, accumulation_size=1,
            min_scale=0.01),
       dict(factor=0.3, patience=2, rtol=0.0, atol=1e-4, cooldown=0, accumulation_size=3,
            min_scale=0.0)]


@pytest.mark.parametrize("kw", _KW)
def test_plateau_matches_optax_for_positive_losses(kw):
  ours = _run(reduce_on_plateau(**kw), _VALUES)
  theirs = _run(optax.contrib.reduce_on_plateau(**kw), _VALUES)
  np.testing.assert_allclose(ours, theirs, rtol=1e-12)
  assert min(ours) < 1  # it reduced


@pytest.mark.parametrize("kw", _KW)
def test_plateau_reduces_on_negative_losses(kw):
  values = -10 + _VALUES  # negative throughout: Optax never reduces
  ours = _run(reduce_on_plateau(**kw), values)
  np.testing.assert_allclose(ours, _plateau_reference(values, **kw), rtol=1e-12)
  assert min(ours) < 1
  if kw["rtol"] > 0:  # Optax's (1 - rtol) best - atol: a worse negative value "improves"
    assert min(_run(optax.contrib.reduce_on_plateau(**kw), values)) == 1.0


def test_plateau_missing_value_is_a_clear_error():
  opt = reduce_on_plateau()
  with pytest.raises(TypeError, match="value"):
    opt.update({"w": jnp.ones(2)}, opt.init({"w": jnp.ones(2)}))


@pytest.mark.parametrize("kw,name", [({"factor": 1.0}, "factor"), ({"rtol": 2.0}, "rtol"),
                                     ({"rtol": 0.0, "atol": 0.0}, "rtol"),
                                     ({"patience": 0}, "patience")])
def test_plateau_bad_arguments(kw, name):
  with pytest.raises(ValueError, match=name):
    reduce_on_plateau(**kw)


def _sam_problem():
  rng = np.random.default_rng(0)
  params = {"w": jnp.asarray(rng.normal(size=(3, 4))), "b": jnp.asarray(rng.normal(size=4))}
  x = jnp.asarray(rng.normal(size=(16, 3)))

  def loss(p):
    return jnp.mean(jnp.sin(x @ p["w"] + p["b"]) ** 2)
  return params, jax.jit(jax.grad(loss))


@pytest.mark.parametrize("opaque", [False, True])
def test_sam_matches_optax(opaque):
  params, grad_fn = _sam_problem()

  def run(lib):
    opt = lib.contrib.sam(lib.sgd(0.1, momentum=0.9), lib.chain(lib.contrib.normalize(),
                                                                lib.sgd(0.05)),
                          sync_period=3, opaque_mode=opaque)
    p, s = params, opt.init(params)
    step = jax.jit(lambda p, s: opt.update(grad_fn(p), s, p,
                                           grad_fn=lambda q, _: grad_fn(q)))
    for _ in range(60):
      u, s = step(p, s)
      p = lib.apply_updates(p, u)
    return p
  ours, theirs = run(gradtx), run(optax)
  for k in params:
    np.testing.assert_allclose(np.asarray(ours[k]), np.asarray(theirs[k]), rtol=1e-10)


def test_normalize_of_zero_gradient_is_zero_not_nan():
  tx = normalize()
  u, _ = tx.update({"w": jnp.zeros(3)}, tx.init(None))
  assert np.all(np.asarray(u["w"]) == 0)
  ref, _ = optax.contrib.normalize().update({"w": jnp.zeros(3)}, None)
  assert np.all(np.isnan(np.asarray(ref["w"])))  # Optax's 0 / 0
  g = {"w": jnp.asarray([3.0, 4.0])}
  np.testing.assert_allclose(np.asarray(tx.update(g, ())[0]["w"]), [0.6, 0.8], rtol=1e-15)


def test_sam_at_a_stationary_point_stays_finite():
  params = {"w": jnp.ones(3)}
  opt = sam(gradtx.sgd(0.1), gradtx.chain(normalize(), gradtx.sgd(0.05)))
  s = opt.init(params)
  p = params
  for _ in range(4):
    u, s = opt.update({"w": jnp.zeros(3)}, s, p)
    p = gradtx.apply_updates(p, u)
  assert np.all(np.asarray(p["w"]) == 1.0)


def test_sam_opaque_needs_grad_fn_and_vmap_over_rho():
  params, grad_fn = _sam_problem()
  opt = sam(gradtx.sgd(0.1), gradtx.chain(normalize(), gradtx.sgd(0.05)), opaque_mode=True)
  with pytest.raises(ValueError, match="grad_fn"):
    opt.update(grad_fn(params), opt.init(params), params)

  @jax.jit
  def one(rho):
    o = sam(gradtx.sgd(0.1), gradtx.chain(normalize(), gradtx.sgd(rho)), opaque_mode=True)
    return o.update(grad_fn(params), o.init(params), params,
                    grad_fn=lambda q, _: grad_fn(q))[0]
  rhos = jnp.asarray([0.01, 0.1])
  swept = jax.jit(jax.vmap(one))(rhos)
  for i in range(2):
    single = one(rhos[i])
    for k in params:
      np.testing.assert_allclose(np.asarray(swept[k][i]), np.asarray(single[k]), rtol=1e-12)


@pytest.mark.parametrize("make", [
    lambda: sam(gradtx.sgd(0.1), gradtx.chain(normalize(), gradtx.sgd(0.05))),
    lambda: gradtx.contrib.prodigy(), lambda: gradtx.contrib.schedule_free_adamw(),
])
def test_state_does_not_alias_the_params(make):
  """A state leaf sharing a param's buffer breaks `jax.jit(..., donate_argnums=...)`."""
  params = {"w": jnp.ones(3)}
  opt = make()
  state = opt.init(params)
  pointers = {x.unsafe_buffer_pointer() for x in jax.tree.leaves(state)}
  assert params["w"].unsafe_buffer_pointer() not in pointers
  step = jax.jit(lambda p, s: opt.update(jax.tree.map(jnp.sin, p), s, p), donate_argnums=(0, 1))
  step(params, state)
