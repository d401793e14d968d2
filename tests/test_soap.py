"""SOAP against a NumPy float64 re-implementation of the reference (nikhilvyas/SOAP soap.py),
written step by step from it: moments kept in the original space and projected each step,
first call only initializing the eigenbasis, power iteration + QR every
`precondition_frequency` steps with `exp_avg_sq` re-sorted, weight decay of the stepped
weights."""

import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx

pytestmark = pytest.mark.usefixtures("x64")


def _project(g, qs, back=False):
  for q in qs:
    if q is None:
      g = np.moveaxis(g, 0, -1)
    else:
      g = np.tensordot(g, q, axes=([0], [1] if back else [0]))
  return g


class NumpySoap:
  """Per-parameter state as the reference keeps it."""

  def __init__(self, lr=3e-3, betas=(0.95, 0.95), shampoo_beta=-1, eps=1e-8, weight_decay=0.01,
               precondition_frequency=10, max_precond_dim=10000, precondition_1d=False,
               normalize_grads=False, correct_bias=True):
    self.__dict__.update(locals())
    self.state = {}

  def step(self, name, p, g):
    st = self.state.setdefault(name, {"step": 0})
    b1, b2 = self.betas
    sb = self.shampoo_beta if self.shampoo_beta >= 0 else b2
    if "Q" not in st:
      st["exp_avg"] = np.zeros_like(g)
      st["exp_avg_sq"] = np.zeros_like(g)
      if g.ndim == 1:
        st["GG"] = [np.zeros((g.size, g.size)) if self.precondition_1d and g.size <=
                    self.max_precond_dim else None]
      else:
        st["GG"] = [np.zeros((d, d)) if d <= self.max_precond_dim else None for d in g.shape]
      self._update_preconditioner(st, g, sb)
      return p
    gp = _project(g, st["Q"])
    st["step"] += 1
    st["exp_avg"] = b1 * st["exp_avg"] + (1 - b1) * g
    st["exp_avg_sq"] = b2 * st["exp_avg_sq"] + (1 - b2) * gp ** 2
    denom = np.sqrt(st["exp_avg_sq"]) + self.eps
    step_size = self.lr
    if self.correct_bias:
      step_size *= np.sqrt(1 - b2 ** st["step"]) / (1 - b1 ** st["step"])
    n = _project(_project(st["exp_avg"], st["Q"]) / denom, st["Q"], back=True)
    if self.normalize_grads:
      n = n / (1e-30 + np.sqrt(np.mean(n ** 2)))
    p = p - step_size * n
    if self.weight_decay > 0:
      p = p - self.lr * self.weight_decay * p
    self._update_preconditioner(st, g, sb)
    return p

  def _update_preconditioner(self, st, g, sb):
    for k, gg in enumerate(st["GG"]):
      if gg is not None:
        axes = [i for i in range(g.ndim) if i != k]
        outer = np.tensordot(g, g, axes=(axes, axes)) if g.ndim > 1 else np.outer(g, g)
        st["GG"][k] = gg + (1 - sb) * (outer - gg)  # torch lerp
    if "Q" not in st:
      qs = []
      for gg in st["GG"]:
        if gg is None:
          qs.append(None)
        else:
          qs.append(np.linalg.eigh(gg + 1e-30 * np.eye(len(gg)))[1][:, ::-1])
      st["Q"] = qs
    if st["step"] > 0 and st["step"] % self.precondition_frequency == 0:
      v, qs = st["exp_avg_sq"], []
      for k, (gg, o) in enumerate(zip(st["GG"], st["Q"])):
        if gg is None:
          qs.append(None)
          continue
        est = np.diag(o.T @ gg @ o)
        idx = np.argsort(-est, kind="stable")
        v = np.take(v, idx, axis=k)
        qs.append(np.linalg.qr(gg @ o[:, idx])[0])
      st["exp_avg_sq"], st["Q"] = v, qs


def _grads(shapes, steps, seed=0):
  rng = np.random.default_rng(seed)
  return [{k: rng.standard_normal(s) for k, s in shapes.items()} for _ in range(steps)]


# "w2" and "b2" repeat shapes: same-shaped leaves are stacked and vmapped together.
SHAPES = {"w": (4, 4), "w2": (4, 4), "t": (2, 3, 4), "b": (3,), "b2": (3,), "s": ()}


def _run(tx, params, grads, jit=True):
  state = tx.init(params)
  upd = jax.jit(tx.update) if jit else tx.update
  out = []
  for g in grads:
    u, state = upd(g, state, params)
    params = gradtx.apply_updates(params, u)
    out.append(params)
  return out, state


@pytest.mark.parametrize("kw", [
    {},
    {"weight_decay": 0.0, "correct_bias": False, "precondition_frequency": 3},
    {"normalize_grads": True, "shampoo_beta": 0.9, "betas": (0.9, 0.99)},
    pytest.param({"precondition_1d": True, "precondition_frequency": 4, "lr": 1e-2},
                 marks=pytest.mark.slow),
])
def test_matches_numpy_reference(kw):
  kw = dict(kw)
  betas = kw.pop("betas", (0.95, 0.95))
  ref = NumpySoap(betas=betas, **kw)
  lr = kw.pop("lr", 3e-3)
  tx = gradtx.soap(lr, betas[0], betas[1], **kw)
  rng = np.random.default_rng(1)
  params = {k: rng.standard_normal(s) for k, s in SHAPES.items()}
  grads = _grads(SHAPES, 23)
  ours, _ = _run(tx, jax.tree.map(jnp.asarray, params), grads)
  p = params
  for t, g in enumerate(grads):
    p = {k: ref.step(k, p[k], g[k]) for k in p}
    for k in p:
      np.testing.assert_allclose(ours[t][k], p[k], rtol=1e-9, atol=1e-12, err_msg=f"{k} @ {t}")


def test_first_step_only_initializes():
  params = {"w": jnp.ones((3, 3)), "b": jnp.ones(3)}
  tx = gradtx.soap()
  state = tx.init(params)
  g = {"w": jnp.arange(9.0).reshape(3, 3), "b": jnp.ones(3)}
  u, state = tx.update(g, state, params)
  assert all(float(jnp.abs(x).max()) == 0 for x in jax.tree.leaves(u))
  np.testing.assert_allclose(state[0].gg["w"][0], 0.05 * np.asarray(g["w"] @ g["w"].T))


def test_odd_leaves_keep_shape_and_finite():
  rng = np.random.default_rng(2)
  shapes = {"s": (), "v": (5,), "conv": (3, 3, 2, 4), "tall": (20000, 3)}
  params = {k: jnp.asarray(rng.standard_normal(s)) for k, s in shapes.items()}
  tx = gradtx.soap(max_precond_dim=100)
  state = tx.init(params)
  assert state[0].gg["tall"][0].shape == (0,) and state[0].gg["tall"][1].shape == (3, 3)
  upd = jax.jit(tx.update)
  for g in _grads(shapes, 12):
    u, state = upd(g, state, params)
    params = gradtx.apply_updates(params, u)
  for k, s in shapes.items():
    assert params[k].shape == s and bool(jnp.all(jnp.isfinite(params[k])))


def test_merge_dims_matches_reshaped_leaf():
  # With merge_dims a (2, 2, 4) leaf under max_precond_dim=4 is preconditioned as (4, 4)
  # (square, so every factor has full rank and a unique eigenbasis).
  assert gradtx.primitives.preconditioning.soap.soap_merged_shape((2, 3, 4), 6) == (6, 4)
  assert gradtx.primitives.preconditioning.soap.soap_merged_shape((2, 2, 4), 4) == (4, 4)
  rng = np.random.default_rng(3)
  grads = [rng.standard_normal((2, 2, 4)) for _ in range(12)]
  p0 = rng.standard_normal((2, 2, 4))
  merged, _ = _run(gradtx.soap(max_precond_dim=4, merge_dims=True), {"a": jnp.asarray(p0)},
                   [{"a": g} for g in grads])
  ref = NumpySoap(max_precond_dim=4)
  p = p0.reshape(4, 4)
  for g in grads:
    p = ref.step("a", p, g.reshape(4, 4))
  np.testing.assert_allclose(merged[-1]["a"], p.reshape(2, 2, 4), rtol=1e-9)


def test_jit_new_lr_no_retrace_and_vmap_over_lr():
  params = {"w": jnp.ones((3, 3)), "b": jnp.zeros(3)}
  grads = [jax.tree.map(jnp.asarray, g) for g in _grads({"w": (3, 3), "b": (3,)}, 4)]
  traces = []

  @jax.jit
  def run(tx):
    traces.append(1)
    p, s = params, tx.init(params)
    for g in grads:
      u, s = tx.update(g, s, p)
      p = gradtx.apply_updates(p, u)
    return p
  a = run(gradtx.soap(1e-3))
  run(gradtx.soap(2e-3))
  assert len(traces) == 1
  lrs = jnp.array([1e-3, 2e-3, 5e-3])
  batched = jax.vmap(lambda lr: run(gradtx.soap(lr)))(lrs)
  for i, lr in enumerate(lrs):
    single = run(gradtx.soap(float(lr)))
    for k in params:
      np.testing.assert_allclose(batched[k][i], single[k], rtol=1e-10)
  np.testing.assert_allclose(batched["w"][0], a["w"], rtol=1e-10)


def test_checkpoint_roundtrip():
  params = {"w": jnp.ones((3, 4)), "b": jnp.zeros(4)}
  tx = gradtx.soap(1e-2)
  grads = [jax.tree.map(jnp.asarray, g) for g in _grads({"w": (3, 4), "b": (4,)}, 15)]
  state = tx.init(params)
  upd = jax.jit(tx.update)
  for g in grads[:12]:
    _, state = upd(g, state, params)
  restored = pickle.loads(pickle.dumps(jax.device_get(state)))
  u1, _ = upd(grads[12], state, params)
  u2, _ = upd(grads[12], jax.tree.map(jnp.asarray, restored), params)
  for k in params:
    np.testing.assert_array_equal(u1[k], u2[k])


def test_quadratic_convergence():
  rng = np.random.default_rng(4)
  a = rng.standard_normal((8, 8))
  h = a @ a.T / 8 + 0.1 * np.eye(8)
  target = rng.standard_normal((8, 6))
  loss = lambda p: 0.5 * jnp.sum((p["w"] - target) * (h @ (p["w"] - target)))
  tx = gradtx.soap(3e-2, weight_decay=0.0)
  p = {"w": jnp.zeros((8, 6))}
  s = tx.init(p)
  step = jax.jit(lambda p, s: (lambda u, s: (gradtx.apply_updates(p, u), s))(
      *tx.update(jax.grad(loss)(p), s, p)))
  l0 = float(loss(p))
  for _ in range(400):
    p, s = step(p, s)
  assert float(loss(p)) < 1e-3 * l0


def test_bad_arguments():
  with pytest.raises(ValueError, match="b1"):
    gradtx.scale_by_soap(b1=1.5)
  with pytest.raises(ValueError, match="precondition_frequency"):
    gradtx.scale_by_soap(precondition_frequency=0)


def test_eigh_and_qr_only_on_init_and_refresh_steps():
  # In the compiled step, eigh (the first call's basis) and QR (the refresh) sit only inside
  # conditional branches: a plain step executes neither.
  from _hlo_calls import custom_calls

  params = {"a": jnp.ones((6, 5)), "b": jnp.ones((6, 5)), "c": jnp.ones((3, 4))}
  tx = gradtx.scale_by_soap()
  text = jax.jit(tx.update).lower(params, tx.init(params)).compile().as_text()
  always, inside = custom_calls(text)
  for work in ("syevd", "geqrf"):
    assert not [t for t in always if work in t], always
    assert [t for t in inside if work in t], inside


def test_batched_refresh_matches_numpy_reference(monkeypatch):
  # On an accelerator the first-call eigh and the refresh QR run stacked over same-shaped
  # leaves (vmapped); forced on here (CPU), run eagerly (one LAPACK call at a time: jaxlib's
  # batched CPU kernels can deadlock when two run at once, see shampoo_groups).
  from gradtx.primitives.preconditioning import shampoo_groups

  monkeypatch.setattr(shampoo_groups, "batching", lambda: True)
  shapes = {"w": (4, 4), "w2": (4, 4), "b": (3,), "b2": (3,)}
  rng = np.random.default_rng(5)
  params = {k: rng.standard_normal(s) for k, s in shapes.items()}
  grads = _grads(shapes, 6, seed=6)
  tx = gradtx.soap(3e-3, precondition_frequency=2)
  ours, _ = _run(tx, jax.tree.map(jnp.asarray, params), grads, jit=False)
  ref, p = NumpySoap(precondition_frequency=2), params
  for g in grads:
    p = {k: ref.step(k, p[k], g[k]) for k in p}
  for k in params:
    np.testing.assert_allclose(ours[-1][k], p[k], rtol=1e-9, atol=1e-12, err_msg=k)
