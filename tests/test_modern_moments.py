"""MARS, LaProp and cautious masking against NumPy float64 written from the reference code
(AGI-Arena/MARS `mars.py`, Z-T-WANG/LaProp-Optimizer `laprop.py`, kyleliang919/C-Optim
`c_adamw.py`), step by step; validation, jit, vmap over the learning rate, odd leaves."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx.optimizers.modern import laprop, mars
from gradtx.primitives.moments.laprop import scale_by_laprop
from gradtx.primitives.moments.mars import scale_by_mars
from gradtx.wrappers.cautious import cautious

pytestmark = pytest.mark.usefixtures("x64")

STEPS = 60
SHAPES = {"w": (5, 4), "b": (6,), "s": (), "k": (2, 3, 2, 2)}


def _params(seed=0):
  rng = np.random.default_rng(seed)
  return {k: rng.normal(size=s) for k, s in SHAPES.items()}


def _grads(seed=1):
  """Gradients per step: large ones (the MARS clip acts) on most steps, small ones on every
  third step, some exact zeros and sign changes."""
  rng = np.random.default_rng(seed)
  out = []
  for t in range(STEPS):
    scale = 0.05 if t % 3 == 0 else 1.5
    out.append({k: scale * rng.normal(size=s) for k, s in SHAPES.items()})
  return out


def _run(tx, params, grads):
  """Params after each step, as NumPy."""
  p = jax.tree.map(jnp.asarray, params)
  state = tx.init(p)
  step = jax.jit(lambda p, s, g: tx.update(g, s, p))
  traj = []
  for g in grads:
    u, state = step(p, state, jax.tree.map(jnp.asarray, g))
    p = gradtx.apply_updates(p, u)
    traj.append(jax.tree.map(np.asarray, p))
  return traj


def _close(traj, ref, rtol=1e-10, atol=1e-12):
  assert len(traj) == len(ref)
  for t, (a, b) in enumerate(zip(traj, ref)):
    for k in SHAPES:
      np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=atol, err_msg=f"step {t + 1}, {k}")


# ---------------------------------------------------------------- MARS


def _np_mars(params, grads, lr=3e-3, betas=(0.95, 0.99), eps=1e-8, wd=0.0, gamma=0.025,
             optimize_1d=False, lr_1d=3e-3, betas_1d=(0.9, 0.95), wd_1d=0.1):
  """The reference's `MARS.step` (mars-adamw, is_approx=True, amsgrad=False) in NumPy."""
  p = {k: np.array(v, float) for k, v in params.items()}
  st = {k: dict(m=np.zeros_like(v), v=np.zeros_like(v), last=np.zeros_like(v)) for k, v in p.items()}
  traj = []
  for step, g in enumerate(grads, start=1):
    for k in p:
      s, grad = st[k], g[k]
      if optimize_1d or grad.ndim == 2:
        b1, b2 = betas
        c = (grad - s["last"]) * (gamma * (b1 / (1 - b1))) + grad
        n = np.linalg.norm(c)
        if n > 1:
          c = c / n
        s["m"] = b1 * s["m"] + (1 - b1) * c
        s["v"] = b2 * s["v"] + (1 - b2) * c * c
        denom = (np.sqrt(s["v"]) / np.sqrt(1 - b2 ** step) + eps) * (1 - b1 ** step)
        p[k] = p[k] - lr * (p[k] * wd + s["m"] / denom)
      else:
        b1, b2 = betas_1d
        s["m"] = b1 * s["m"] + (1 - b1) * grad
        s["v"] = b2 * s["v"] + (1 - b2) * grad * grad
        denom = (np.sqrt(s["v"]) / np.sqrt(1 - b2 ** step) + eps) * (1 - b1 ** step)
        p[k] = p[k] - lr * (lr_1d / lr) * (p[k] * wd_1d + s["m"] / denom)
      s["last"] = grad
    traj.append({k: v.copy() for k, v in p.items()})
  return traj


@pytest.mark.parametrize("kwargs", [
    {},
    dict(learning_rate=1e-2, weight_decay=0.05, gamma=0.1, lr_1d=5e-3, weight_decay_1d=0.02),
    dict(learning_rate=1e-2, weight_decay=0.05, optimize_1d=True),
])
def test_mars_matches_reference(kwargs):
  params, grads = _params(), _grads()
  ref_kwargs = dict(lr=kwargs.get("learning_rate", 3e-3), wd=kwargs.get("weight_decay", 0.0),
                    gamma=kwargs.get("gamma", 0.025), optimize_1d=kwargs.get("optimize_1d", False),
                    lr_1d=kwargs.get("lr_1d", 3e-3), wd_1d=kwargs.get("weight_decay_1d", 0.1))
  _close(_run(mars(**kwargs), params, grads), _np_mars(params, grads, **ref_kwargs))


def test_mars_clip_acts_and_state_holds_last_gradient():
  params, grads = _params(), _grads()
  tx = scale_by_mars()
  state = tx.init(params)
  u, state = tx.update(grads[1], state, params)
  np.testing.assert_array_equal(np.asarray(state.last_grad["w"]), grads[1]["w"])
  # the corrected gradient of this step has norm > 1, so the first moment is (1 - b1) c / ||c||
  c = grads[1]["w"] * (1 + 0.025 * 0.95 / 0.05)
  np.testing.assert_allclose(np.asarray(state.mu["w"]), 0.05 * c / np.linalg.norm(c), rtol=1e-12)


# ---------------------------------------------------------------- LaProp


def _np_laprop(params, grads, lr=4e-4, betas=(0.8, 0.99), eps=1e-15, wd=0.0):
  """The reference's `LaProp.step` (not centered, no amsgrad) in NumPy, its lr-weighted first
  bias correction included."""
  p = {k: np.array(v, float) for k, v in params.items()}
  st = {k: dict(m=np.zeros_like(v), v=np.zeros_like(v), lr1=0.0) for k, v in p.items()}
  b1, b2 = betas
  traj = []
  for step, g in enumerate(grads, start=1):
    for k in p:
      s, grad = st[k], g[k]
      s["v"] = b2 * s["v"] + (1 - b2) * grad * grad
      denom = np.sqrt(s["v"] / (1 - b2 ** step)) + eps
      s["m"] = b1 * s["m"] + (1 - b1) * lr * (grad / denom)
      s["lr1"] = s["lr1"] * b1 + (1 - b1) * lr
      p[k] = p[k] - s["m"] / (s["lr1"] / lr)
      if wd != 0:
        p[k] = p[k] - wd * p[k]
    traj.append({k: v.copy() for k, v in p.items()})
  return traj


@pytest.mark.parametrize("kwargs", [{}, dict(learning_rate=1e-2, b1=0.9, b2=0.95, eps=1e-8,
                                             weight_decay=1e-3)])
def test_laprop_matches_reference(kwargs):
  params, grads = _params(), _grads()
  ref = _np_laprop(params, grads, lr=kwargs.get("learning_rate", 4e-4),
                   betas=(kwargs.get("b1", 0.8), kwargs.get("b2", 0.99)),
                   eps=kwargs.get("eps", 1e-15), wd=kwargs.get("weight_decay", 0.0))
  _close(_run(laprop(**kwargs), params, grads), ref)


# ---------------------------------------------------------------- cautious


def _np_cadamw(params, grads, lr=1e-2, betas=(0.9, 0.999), wd=0.0):
  """C-AdamW (the reference `c_adamw.py`, eps=0, bias-corrected) with torch's AdamW decay of
  the current weights before the step."""
  p = {k: np.array(v, float) for k, v in params.items()}
  st = {k: dict(m=np.zeros_like(v), v=np.zeros_like(v)) for k, v in p.items()}
  b1, b2 = betas
  traj = []
  for step, g in enumerate(grads, start=1):
    for k in p:
      s, grad = st[k], g[k]
      p[k] = p[k] * (1 - lr * wd)
      s["m"] = b1 * s["m"] + (1 - b1) * grad
      s["v"] = b2 * s["v"] + (1 - b2) * grad * grad
      step_size = lr * np.sqrt(1 - b2 ** step) / (1 - b1 ** step)
      mask = (s["m"] * grad > 0).astype(float)
      mask = mask / max(mask.mean(), 1e-3)
      p[k] = p[k] - step_size * (s["m"] * mask) / np.sqrt(s["v"])
    traj.append({k: v.copy() for k, v in p.items()})
  return traj


def test_cautious_adamw_matches_reference():
  params, grads = _params(), _grads()
  _close(_run(cautious(gradtx.adamw(1e-2, eps=0.0, weight_decay=0.0)), params, grads),
         _np_cadamw(params, grads))


def test_cautious_direction_stage_with_unmasked_decay_matches_reference():
  params, grads = _params(), _grads()
  tx = gradtx.chain(cautious(gradtx.scale_by_adam(eps=0.0), descent=False),
                    gradtx.add_decayed_weights(0.1), gradtx.scale_by_learning_rate(1e-2))
  _close(_run(tx, params, grads), _np_cadamw(params, grads, wd=0.1))


def test_cautious_mask_floor_and_state():
  g = {"a": jnp.array([1.0, -2.0, 3.0, 4.0])}
  inner = gradtx.sgd(1.0)
  tx = cautious(inner)
  # sgd's step -g always agrees: mask all ones, update unchanged; state is the inner one
  u, s = tx.update(g, tx.init(g), g)
  np.testing.assert_allclose(u["a"], -np.asarray(g["a"]))
  assert jax.tree.structure(s) == jax.tree.structure(inner.init(g))
  # an ascent step disagrees everywhere: mean(mask) = 0 is floored at eps, the update is 0
  u, _ = cautious(gradtx.sgd(-1.0)).update(g, tx.init(g), g)
  np.testing.assert_array_equal(u["a"], np.zeros(4))
  # half agree: the kept half is doubled
  flip = gradtx.GradientTransformation(lambda p: (), lambda u, s, p=None: (
      {"a": u["a"] * jnp.array([-1.0, -1.0, 1.0, 1.0])}, s))
  u, _ = cautious(flip).update(g, (), g)
  np.testing.assert_allclose(u["a"], [-2.0, 4.0, 0.0, 0.0])


# ---------------------------------------------------------------- shared checks


@pytest.mark.parametrize("make", [
    lambda lr: mars(lr), lambda lr: laprop(lr), lambda lr: cautious(gradtx.adamw(lr))])
def test_jit_no_retrace_on_new_learning_rate(make):
  params, grads = _params(), _grads()
  traces = []

  @jax.jit
  def step(tx, p, g):
    traces.append(1)
    return tx.update(g, tx.init(p), p)[0]

  a = step(make(1e-3), params, grads[0])
  b = step(make(2e-3), params, grads[0])
  assert len(traces) == 1
  assert not np.allclose(a["w"], b["w"])


@pytest.mark.parametrize("make", [
    lambda lr: mars(lr), lambda lr: laprop(lr), lambda lr: cautious(gradtx.adamw(lr))])
def test_vmap_over_learning_rate_is_separate_runs(make):
  params, grads = _params(), _grads()[:5]
  p0 = jax.tree.map(jnp.asarray, params)

  def run(lr):
    tx = make(lr)
    p, s = p0, tx.init(p0)
    for g in grads:
      u, s = tx.update(jax.tree.map(jnp.asarray, g), s, p)
      p = gradtx.apply_updates(p, u)
    return p

  lrs = jnp.array([1e-3, 3e-3, 1e-2])
  swept = jax.jit(jax.vmap(run))(lrs)
  for i, lr in enumerate([1e-3, 3e-3, 1e-2]):
    one = run(lr)
    for k in SHAPES:
      np.testing.assert_allclose(swept[k][i], one[k], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("tx", [scale_by_mars(), scale_by_mars(optimize_1d=True),
                                scale_by_laprop(), cautious(gradtx.adam(1e-3))])
def test_odd_leaves_keep_shapes_and_dtypes(tx):
  params = {"s": jnp.float32(1.0), "b": jnp.ones(3, jnp.float32), "k": jnp.ones((2, 1, 3, 2), jnp.bfloat16),
            "e": jnp.zeros((0, 3))}
  state = tx.init(params)
  u, state = jax.jit(tx.update)(params, state, params)
  for k in params:
    assert u[k].shape == params[k].shape and u[k].dtype == params[k].dtype


@pytest.mark.parametrize("build, needle", [
    (lambda: scale_by_mars(gamma=-1.0), "gamma"),
    (lambda: scale_by_mars(b1=1.0), "b1"),
    (lambda: mars(b2_1d=1.5), "b2_1d"),
    (lambda: laprop(b1=1.0), "b1"),
    (lambda: scale_by_laprop(eps=-1.0), "eps"),
    (lambda: laprop(weight_decay=-0.1), "weight_decay"),
    (lambda: cautious(gradtx.adam(1e-3), eps=0.0), "eps"),
])
def test_validation_names_the_argument(build, needle):
  with pytest.raises(ValueError, match=needle):
    build()
