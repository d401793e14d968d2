"""The rest of optax.contrib in gradtx.contrib: trajectories against Optax 0.2.8 (float64,
60 steps, non-convex loss, mixed-shape tree) or NumPy written from the reference code."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from gradtx import contrib as gc

pytestmark = pytest.mark.usefixtures("x64")

STEPS = 60


def _params():
  return {"a": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4), "b": jnp.arange(5.0) / 5,
          "c": jnp.asarray(0.3)}


def _loss(q):
  return sum(jnp.sum(jnp.sin(3 * x) + x ** 2 * jnp.cos(x)) for x in jax.tree.leaves(q))


def _trajectory(opt, steps=STEPS, extra=()):
  params = _params()
  state = opt.init(params)
  step = jax.jit(lambda p, s: _step(opt, p, s, extra))
  for _ in range(steps):
    params, state = step(params, state)
  return params


def _step(opt, params, state, extra):
  value, grad = jax.value_and_grad(_loss)(params)
  kw = {"value": value} if "value" in extra else {}
  if "obj_fn" in extra:
    kw["obj_fn"] = _loss
  updates, state = opt.update(grad, state, params, **kw)
  return jax.tree.map(jnp.add, params, updates), state


def _close(a, b, rtol=1e-10):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=rtol)


def _alpha_warmup(count):
  return jnp.minimum(count / 30, 1.0) * 5.0


def _b3_warmup(count):
  return jnp.minimum(0.9 + 0.003 * count, 0.999)


# (name, optax optimizer, gradtx optimizer, extra update kwargs)
CASES = [
    ("acprop", optax.contrib.acprop(0.01, weight_decay=0.1), gc.acprop(0.01, weight_decay=0.1), ()),
    ("adopt_noclip", optax.contrib.adopt(0.01, use_clipping=False, nesterov=True),
     gc.adopt(0.01, use_clipping=False, nesterov=True), ()),
    ("ademamix", optax.contrib.ademamix(0.01, weight_decay=0.1),
     gc.ademamix(0.01, weight_decay=0.1), ()),
    # the same plain-function schedules on both sides (Optax's own schedules are float32)
    ("ademamix_schedule", optax.contrib.ademamix(0.01, alpha=_alpha_warmup, b3=_b3_warmup),
     gc.ademamix(0.01, alpha=_alpha_warmup, b3=_b3_warmup), ()),
    ("simplified_ademamix", optax.contrib.simplified_ademamix(1e-3, alpha=2.0, weight_decay=0.1),
     gc.simplified_ademamix(1e-3, alpha=2.0, weight_decay=0.1), ()),
    ("cocob", optax.contrib.cocob(weight_decay=0.1), gc.cocob(weight_decay=0.1), ()),
    ("dog", optax.contrib.dog(0.5, weight_decay=0.01), gc.dog(0.5, weight_decay=0.01), ()),
    ("dog_lr", optax.contrib.dog(init_step=("learning_rate", 0.01)),
     gc.dog(init_step=("learning_rate", 0.01)), ()),
    ("dog_distance", optax.contrib.dog(init_step=("distance", 0.1)),
     gc.dog(init_step=("distance", 0.1)), ()),
    ("dowg", optax.contrib.dowg(0.5, weight_decay=0.01), gc.dowg(0.5, weight_decay=0.01), ()),
    ("momo", optax.contrib.momo(0.3, weight_decay=0.01), gc.momo(0.3, weight_decay=0.01),
     ("value",)),
    ("momo_adapt", optax.contrib.momo(0.3, lower_bound=-20.0, adapt_lower_bound=True),
     gc.momo(0.3, lower_bound=-20.0, adapt_lower_bound=True), ("value",)),
    ("momo_adam", optax.contrib.momo_adam(0.05, weight_decay=0.01),
     gc.momo_adam(0.05, weight_decay=0.01), ("value",)),
    ("momo_adam_adapt", optax.contrib.momo_adam(0.05, lower_bound=-20.0, adapt_lower_bound=True),
     gc.momo_adam(0.05, lower_bound=-20.0, adapt_lower_bound=True), ("value",)),
    ("mechanize", optax.contrib.mechanize(optax.adam(0.01)), gc.mechanize(gradtx.adam(0.01)), ()),
    ("sophia", optax.contrib.sophia(0.05, update_interval=3), gc.sophia(0.05, update_interval=3),
     ("obj_fn",)),
]


@pytest.mark.slow  # ~5 s a case (two compiles)
@pytest.mark.parametrize("name,ref,ours,extra", CASES, ids=[c[0] for c in CASES])
def test_matches_optax(name, ref, ours, extra):
  del name
  _close(_trajectory(ours, extra=extra), _trajectory(ref, extra=extra))


def _adopt_reference(g_seq, lr, b1=0.9, b2=0.9999, eps=1e-6):
  """iShohei220/adopt's `ADOPT.step` in NumPy: step 1 only sets `v = g^2`; then
  `n = clip(g / max(sqrt(v), eps), step^0.25)`, `m = lerp(m, n, 1 - b1)`, `x -= lr m`,
  `v = b2 v + (1 - b2) g^2` (`step` counts from 1)."""
  x = np.zeros_like(g_seq[0])
  m, v = np.zeros_like(x), np.zeros_like(x)
  xs = []
  for step, g in enumerate(g_seq, start=1):
    if step == 1:
      v = g * g
    else:
      n = np.clip(g / np.maximum(np.sqrt(v), eps), -step ** 0.25, step ** 0.25)
      m = m + (1 - b1) * (n - m)
      x = x - lr * m
      v = b2 * v + (1 - b2) * g * g
    xs.append(x.copy())
  return xs


def test_adopt_matches_the_reference_clipping_schedule():
  rng = np.random.default_rng(0)
  g_seq = [rng.standard_normal(7) * (10.0 if i == 3 else 1.0) for i in range(20)]
  opt = gc.adopt(0.1)
  x = jnp.zeros(7)
  state = opt.init(x)
  expected = _adopt_reference(g_seq, 0.1)
  for g, want in zip(g_seq, expected):
    u, state = opt.update(jnp.asarray(g), state, x)
    x = x + u
    np.testing.assert_allclose(np.asarray(x), want, rtol=1e-12, atol=1e-14)


def _madgrad_reference(g_seq, x0, lr, momentum=0.9, eps=1e-6, decay=0.0):
  """facebookresearch/madgrad `MADGRAD.step` (dense, momentum != 0) in NumPy."""
  x, s, nu = x0.copy(), np.zeros_like(x0), np.zeros_like(x0)
  xs = []
  for k, gfn in enumerate(g_seq):
    g = gfn(x) + decay * x
    lamb = (lr + eps) * np.sqrt(k + 1)
    s = s + lamb * g
    nu = nu + lamb * g * g
    z = x0 - s / (np.cbrt(nu) + eps)
    x = momentum * x + (1 - momentum) * z
    xs.append(x.copy())
  return xs


def test_madgrad_matches_the_reference():
  x0 = np.linspace(-1.0, 1.0, 9)
  grad = lambda x: 3 * np.cos(3 * x) + 2 * x * np.cos(x) - x ** 2 * np.sin(x)
  expected = _madgrad_reference([grad] * STEPS, x0, 0.01, decay=0.1)
  opt = gc.madgrad(0.01, weight_decay=0.1)
  x = jnp.asarray(x0)
  state = opt.init(x)
  for want in expected:
    u, state = opt.update(jnp.asarray(grad(np.asarray(x))), state, x)
    x = x + u
    np.testing.assert_allclose(np.asarray(x), want, rtol=1e-11, atol=1e-13)


def test_dpsgd_matches_optax_noise_and_clipping():
  per_example = {"a": jnp.arange(24.0).reshape(4, 6) / 10,
                 "b": jnp.sin(jnp.arange(8.0)).reshape(4, 2)}
  params = {"a": jnp.zeros(6), "b": jnp.zeros(2)}
  ref = optax.contrib.dpsgd(0.1, 1.0, 0.5, 3, momentum=0.9)
  ours = gc.dpsgd(0.1, 1.0, 0.5, 3, momentum=0.9)
  s_ref, s_ours = ref.init(params), ours.init(params)
  ref_update, our_update = jax.jit(ref.update), jax.jit(ours.update)
  for _ in range(3):
    u_ref, s_ref = ref_update(per_example, s_ref, params)
    u_ours, s_ours = our_update(per_example, s_ours, params)
    _close(u_ours, u_ref, 1e-12)


def test_split_real_and_imaginary_matches_optax():
  params = {"z": jnp.array([1 + 2j, 3 - 1j]), "r": jnp.array([1.0, 2.0])}
  grads = {"z": jnp.array([0.5 - 1j, 2 + 3j]), "r": jnp.array([0.1, -0.2])}
  ref = optax.contrib.split_real_and_imaginary(optax.adam(0.1))
  ours = gc.split_real_and_imaginary(gradtx.adam(0.1))
  s_ref, s_ours = ref.init(params), ours.init(params)
  for _ in range(4):
    u_ref, s_ref = ref.update(grads, s_ref, params)
    u_ours, s_ours = ours.update(grads, s_ours, params)
    _close(u_ours, u_ref, 1e-12)
  assert u_ours["z"].dtype == jnp.complex128


def test_hutchinson_estimates_the_diagonal():
  a = jnp.array([[2.0, 0.5], [0.5, 3.0]])
  loss = lambda x: 0.5 * x @ a @ x
  est = gc.hutchinson_estimator_diag_hessian(jax.random.PRNGKey(1))
  state = est.init(jnp.zeros(2))
  update = jax.jit(lambda s: est.update(None, s, jnp.ones(2), obj_fn=loss))
  total = jnp.zeros(2)
  for _ in range(200):
    d, state = update(state)
    total = total + d
  # u ⊙ (A u) = diag(A) + off-diagonal terms of mean 0 and size 0.5
  np.testing.assert_allclose(total / 200, jnp.diag(a), atol=0.15)


@pytest.mark.parametrize("factory,kwargs,name", [
    (gc.adopt, {"learning_rate": 0.1, "b1": 1.5}, "b1"),
    (gc.acprop, {"learning_rate": 0.1, "eps": -1.0}, "eps"),
    (gc.ademamix, {"learning_rate": 0.1, "b3": 1.0}, "b3"),
    (gc.simplified_ademamix, {"learning_rate": 0.1, "b2": -0.5}, "b2"),
    (gc.cocob, {"alpha": 0.0}, "alpha"),
    (gc.dog, {"init_step": ("guess", 1.0)}, "init_step"),
    (gc.dowg, {"eps": -1.0}, "eps"),
    (gc.madgrad, {"learning_rate": 0.1, "momentum": 1.5}, "momentum"),
    (gc.momo, {"beta": 1.0}, "beta"),
    (gc.momo_adam, {"b2": 2.0}, "b2"),
    (gc.sophia, {"learning_rate": 0.1, "update_interval": 0}, "update_interval"),
    (gc.dpsgd, {"learning_rate": 0.1, "l2_norm_clip": -1.0, "noise_multiplier": 1.0,
                "seed": 0}, "l2_norm_clip"),
])
def test_bad_hyperparameters_named_at_construction(factory, kwargs, name):
  with pytest.raises(ValueError, match=name):
    opt = factory(**kwargs)
    opt.init(_params())  # named optimizers build their chain lazily


def test_mechanize_validates():
  with pytest.raises(ValueError, match="s_init"):
    gc.mechanize(gradtx.sgd(0.1), s_init=0.0)


def _lr_step(make):
  """`jit`ted steps whose optimizer is an argument: a new learning rate must not retrace."""
  traces = []

  @jax.jit
  def step(opt, params, state):
    traces.append(1)
    updates, state = opt.update(jax.grad(_loss)(params), state, params)
    return jax.tree.map(jnp.add, params, updates), state

  return step, traces


@pytest.mark.slow  # vmap over unjitted steps, ~10 s a case
@pytest.mark.parametrize("make", [
    lambda lr: gc.adopt(lr), lambda lr: gc.ademamix(lr), lambda lr: gc.madgrad(lr),
    lambda lr: gc.acprop(lr), lambda lr: gc.dog(lr), lambda lr: gc.cocob(lr),
], ids=["adopt", "ademamix", "madgrad", "acprop", "dog", "cocob"])
def test_jit_no_retrace_and_vmap_over_learning_rate(make):
  step, traces = _lr_step(make)
  params = _params()
  for lr in (0.01, 0.02, 0.03):
    opt = make(lr)
    step(opt, params, opt.init(params))
  assert len(traces) == 1
  lrs = jnp.array([0.01, 0.05])

  def run(lr):
    opt = make(lr)
    p, s = params, opt.init(params)
    for _ in range(3):
      u, s = opt.update(jax.grad(_loss)(p), s, p)
      p = jax.tree.map(jnp.add, p, u)
    return p

  batched = jax.vmap(run)(lrs)
  for i, lr in enumerate((0.01, 0.05)):
    _close(jax.tree.map(lambda x: x[i], batched), run(lr), 1e-12)


@pytest.mark.parametrize("opt", [gc.adopt(0.1), gc.ademamix(0.1), gc.madgrad(0.1),
                                 gc.cocob(), gc.dowg()], ids=["adopt", "ademamix", "madgrad",
                                                              "cocob", "dowg"])
def test_nan_gradients_inside_apply_if_finite_keep_params(opt):
  wrapped = gradtx.apply_if_finite(opt, 3)
  params = _params()
  state = wrapped.init(params)
  grad = jax.grad(_loss)(params)
  updates, state = wrapped.update(grad, state, params)
  params = gradtx.apply_updates(params, updates)
  bad = jax.tree.map(lambda g: g.at[()].set(jnp.nan) if g.ndim == 0 else g.at[0].set(jnp.nan),
                     grad)
  updates, state = wrapped.update(bad, state, params)
  after = gradtx.apply_updates(params, updates)
  _close(after, params, 0.0)


@pytest.mark.parametrize("name", ["momo", "momo_adam"])
def test_momo_low_precision_params_keep_their_dtype(name):
  """Optax's contrib `test_preserve_dtype` / `test_state_shape_dtype_shard_stability` (bfloat16,
  float16 params): updates come back in the params' dtype, the state's dtypes do not change,
  and the steps stay within bfloat16 rounding of Optax's float32 steps."""
  target = jnp.asarray([1.0, -1.0, 1.0], jnp.float32)
  loss = lambda x: jnp.sum((x.astype(jnp.float32) - target) ** 2)  # noqa: E731
  for dtype in (jnp.bfloat16, jnp.float16):
    ours, ref = getattr(gc, name)(0.1), getattr(optax.contrib, name)(0.1)
    p = jnp.asarray([-1.0, 10.0, 1.0], dtype)
    q = p.astype(jnp.float32)
    state, ref_state = ours.init(p), ref.init(q)
    dtypes = [x.dtype for x in jax.tree.leaves(state)]
    for _ in range(3):
      value, g = jax.value_and_grad(loss)(p)
      u, state = ours.update(g, state, p, value=value)
      assert u.dtype == dtype
      assert [x.dtype for x in jax.tree.leaves(state)] == dtypes
      p = p + u
      ref_value, ref_g = jax.value_and_grad(loss)(q)
      ref_u, ref_state = ref.update(ref_g, ref_state, q, value=ref_value)
      q = q + ref_u
    np.testing.assert_allclose(np.asarray(p, np.float32), np.asarray(q), rtol=3e-2, atol=3e-2)
