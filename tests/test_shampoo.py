"""Shampoo against NumPy float64 written from the papers (Gupta et al. 2018, Anil et al. 2020,
Shi et al. 2023) step by step: block statistics, inverse 4th roots by eigendecomposition with
the ridge relative to the largest eigenvalue, recomputed only every `precondition_frequency`
steps (cached in between), layer-wise grafting, `start_preconditioning_step`, the
diagonal fallback, heavy-ball Nesterov momentum."""

import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx

pytestmark = pytest.mark.usefixtures("x64")


def _root(s, eps, p=4):
  w, v = np.linalg.eigh(s)
  w = np.maximum(w, 0)
  return (v * (w + eps * max(w.max(), 1e-16)) ** (-1.0 / p)) @ v.T


def _cuts(d, bs, max_dim):
  if d > max_dim:
    return None
  return [(i, min(i + bs, d)) for i in range(0, d, bs)]


class NumpyShampoo:
  def __init__(self, lr, b1=0.9, beta2=0.999, weight_decay=0.0, matrix_eps=1e-6,
               graft_eps=1e-8, graft_type="adam", precondition_frequency=10,
               start_preconditioning_step=5, block_size=1024, max_preconditioner_dim=10000,
               nesterov=True):
    self.__dict__.update(locals())
    self.state = {}
    self.k = 0

  def graft(self, st, g):
    b2, t = self.beta2, self.k + 1
    if self.graft_type == "sgd":
      return g
    if self.graft_type == "adagrad":
      st["v"] = st.get("v", 0) + g * g
      return g / (np.sqrt(st["v"]) + self.graft_eps)
    w = 1.0 if b2 == 1 else 1 - b2
    st["v"] = b2 * st.get("v", 0) + w * g * g
    v = st["v"] / (1 - b2 ** t) if self.graft_type == "adam" and b2 != 1 else st["v"]
    return g / (np.sqrt(v) + self.graft_eps)

  def direction(self, name, g):
    st = self.state.setdefault(name, {})
    a = self.graft(st, g)
    if g.ndim < 2:
      return a
    g2 = g.reshape(-1, g.shape[-1])
    rows = _cuts(g2.shape[0], self.block_size, self.max_preconditioner_dim)
    cols = _cuts(g2.shape[1], self.block_size, self.max_preconditioner_dim)
    if rows is None and cols is None:
      return a
    d = np.zeros_like(g2)
    b2 = self.beta2
    w = 1.0 if b2 == 1 else 1 - b2
    for i, (r0, r1) in enumerate(rows or [(0, g2.shape[0])]):
      for j, (c0, c1) in enumerate(cols or [(0, g2.shape[1])]):
        blk = g2[r0:r1, c0:c1]
        key = (i, j)
        stats = st.setdefault(key, {"L": 0, "R": 0})
        out = blk
        if rows is not None:
          stats["L"] = b2 * stats["L"] + w * blk @ blk.T
        if cols is not None:
          stats["R"] = b2 * stats["R"] + w * blk.T @ blk
        if self.k % self.precondition_frequency == 0:
          if rows is not None:
            stats["PL"] = _root(stats["L"], self.matrix_eps)
          if cols is not None:
            stats["PR"] = _root(stats["R"], self.matrix_eps)
        if rows is not None:
          out = stats["PL"] @ out
        if cols is not None:
          out = out @ stats["PR"]
        d[r0:r1, c0:c1] = out
    d = d.reshape(g.shape)
    if self.k < self.start_preconditioning_step:
      return a
    return d * np.linalg.norm(a) / np.linalg.norm(d)

  def step(self, params, grads):
    new = {}
    for name in params:
      u = self.direction(name, grads[name]) + self.weight_decay * params[name]
      st = self.state[name]
      st["m"] = u + self.b1 * st.get("m", 0)
      u = u + self.b1 * st["m"] if self.nesterov else st["m"]
      new[name] = params[name] - self.lr * u
    self.k += 1
    return new


SHAPES = {"w": (6, 5), "conv": (2, 2, 3), "b": (4,), "s": ()}
# Leaves repeating SHAPES' shapes (same-shaped leaves are stacked and vmapped together),
# drawn from their own stream so SHAPES' data stays as it was.
REPEATS = {"w2": (6, 5), "b2": (4,)}


def _run(tx, params, grads):
  state = tx.init(params)
  upd = jax.jit(tx.update)
  out = []
  for g in grads:
    u, state = upd(g, state, params)
    params = gradtx.apply_updates(params, u)
    out.append(params)
  return out, state


def _data(shapes, steps, seed=0):
  rng = np.random.default_rng(seed)
  params = {k: rng.standard_normal(s) for k, s in shapes.items()}
  grads = [{k: rng.standard_normal(s) for k, s in shapes.items()} for _ in range(steps)]
  return params, grads


@pytest.mark.parametrize("kw", [
    {"block_size": 4},
    {"graft_type": "rmsprop", "precondition_frequency": 3, "start_preconditioning_step": 0,
     "beta2": 1.0, "weight_decay": 1e-2},
    {"graft_type": "sgd", "precondition_frequency": 1, "b1": 0.5, "nesterov": False},
    pytest.param({"graft_type": "adagrad", "max_preconditioner_dim": 5, "block_size": 2},
                 marks=pytest.mark.slow),
])
def test_matches_numpy(kw):
  params, grads = _data(SHAPES, 14)
  params2, grads2 = _data(REPEATS, 14, seed=1)
  params = {**params, **params2}
  grads = [{**g, **g2} for g, g2 in zip(grads, grads2)]
  ref = NumpyShampoo(0.05, **kw)
  ours, _ = _run(gradtx.shampoo(0.05, **kw), jax.tree.map(jnp.asarray, params), grads)
  p = params
  for t, g in enumerate(grads):
    p = ref.step(p, g)
    for k in p:
      np.testing.assert_allclose(ours[t][k], p[k], rtol=1e-9, atol=1e-12, err_msg=f"{k} @ {t}")


def test_roots_cached_between_refreshes():
  # Roots are recomputed at steps 0, 4, 8: state.roots_l changes only there.
  params, grads = _data({"w": (3, 3)}, 9)
  tx = gradtx.scale_by_shampoo(precondition_frequency=4)
  state = tx.init(params)
  upd = jax.jit(tx.update)
  changed = []
  for g in grads:
    _, new = upd(g, state)
    changed.append(not np.array_equal(new.roots_l["w"], state.roots_l["w"]))
    state = new
  assert changed == [True, False, False, False, True, False, False, False, True]


def test_newton_roots_close_to_eigh():
  params, grads = _data({"w": (5, 4)}, 6)
  ref = NumpyShampoo(0.05, start_preconditioning_step=0, precondition_frequency=2)
  ours, _ = _run(gradtx.shampoo(0.05, start_preconditioning_step=0, precondition_frequency=2,
                                root_method="newton"), jax.tree.map(jnp.asarray, params), grads)
  p = params
  for g in grads:
    p = ref.step(p, g)
  np.testing.assert_allclose(ours[-1]["w"], p["w"], rtol=1e-4)


def test_odd_leaves_keep_shape_finite_and_small_state():
  shapes = {"s": (), "v": (7,), "conv": (3, 3, 2, 4), "tall": (20000, 3), "huge": (300, 6)}
  params, grads = _data(shapes, 3)
  tx = gradtx.shampoo(1e-2, block_size=128, max_preconditioner_dim=10000,
                      start_preconditioning_step=0)
  out, state = _run(tx, jax.tree.map(jnp.asarray, params), grads)
  st = state[0]
  assert st.stats_l["tall"].shape == (0,) and st.stats_r["tall"].shape == (1, 1, 3, 3)
  assert st.stats_l["huge"].shape == (3, 1, 128, 128)  # 300 rows in 3 blocks
  assert st.stats_l["v"].shape == (0,) and st.stats_l["conv"].shape == (1, 1, 18, 18)
  for k, s in shapes.items():
    assert out[-1][k].shape == s and bool(jnp.all(jnp.isfinite(out[-1][k])))


def test_jit_new_lr_no_retrace_and_vmap_over_lr():
  params, grads = _data({"w": (3, 4), "b": (4,)}, 7)
  params = jax.tree.map(jnp.asarray, params)
  traces = []

  @jax.jit
  def run(tx):
    traces.append(1)
    p, s = params, tx.init(params)
    for g in grads:
      u, s = tx.update(g, s, p)
      p = gradtx.apply_updates(p, u)
    return p
  run(gradtx.shampoo(1e-2, precondition_frequency=3))
  run(gradtx.shampoo(2e-2, precondition_frequency=3))
  assert len(traces) == 1
  lrs = jnp.array([1e-2, 3e-2])
  batched = jax.vmap(lambda lr: run(gradtx.shampoo(lr, precondition_frequency=3)))(lrs)
  for i, lr in enumerate(lrs):
    single = run(gradtx.shampoo(float(lr), precondition_frequency=3))
    for k in params:
      np.testing.assert_allclose(batched[k][i], single[k], rtol=1e-10)


def test_checkpoint_roundtrip():
  params, grads = _data({"w": (4, 3), "b": (3,)}, 8)
  tx = gradtx.shampoo(1e-2)
  state = tx.init(params)
  upd = jax.jit(tx.update)
  for g in grads[:7]:
    _, state = upd(g, state, params)
  restored = jax.tree.map(jnp.asarray, pickle.loads(pickle.dumps(jax.device_get(state))))
  u1, _ = upd(grads[7], state, params)
  u2, _ = upd(grads[7], restored, params)
  for k in params:
    np.testing.assert_array_equal(u1[k], u2[k])


@pytest.mark.slow
def test_rosenbrock_and_quadratic_converge():
  def rosen(p):
    x = p["x"]
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
  rng = np.random.default_rng(5)
  a = rng.standard_normal((8, 8))
  h = a @ a.T / 8 + 0.05 * np.eye(8)
  quad = lambda p: 0.5 * jnp.sum(p["w"] * (h @ p["w"]))
  for loss, p, lr, steps in ((rosen, {"x": jnp.zeros(2)}, 2e-3, 1500),
                             (quad, {"w": jnp.ones((8, 6))}, 1e-2, 600)):
    tx = gradtx.shampoo(lr)
    s = tx.init(p)
    step = jax.jit(lambda p, s, tx=tx, loss=loss: (lambda u, s: (gradtx.apply_updates(p, u), s))(
        *tx.update(jax.grad(loss)(p), s, p)))
    l0 = float(loss(p))
    for _ in range(steps):
      p, s = step(p, s)
    assert float(loss(p)) < 1e-3 * l0


def test_bad_arguments():
  with pytest.raises(ValueError, match="graft_type"):
    gradtx.scale_by_shampoo(graft_type="adamw")
  with pytest.raises(ValueError, match="block_size"):
    gradtx.scale_by_shampoo(block_size=0)
  with pytest.raises(ValueError, match="beta2"):
    gradtx.scale_by_shampoo(beta2=1.5)


@pytest.mark.parametrize("method", ["eigh", "newton"])
def test_roots_computed_only_on_refresh_steps(method):
  # In the compiled step, eigh (LAPACK syevd) / the Newton while loops sit only inside the
  # refresh branch of a conditional: a non-refresh step executes none of them.
  from _hlo_calls import custom_calls

  params = {"a": jnp.ones((6, 5)), "b": jnp.ones((6, 5)), "c": jnp.ones((3, 4))}
  tx = gradtx.scale_by_shampoo(root_method=method)
  text = jax.jit(tx.update).lower(params, tx.init(params)).compile().as_text()
  always, inside = custom_calls(text)
  work = "while" if method == "newton" else "syevd"
  assert not [t for t in always if work in t], always
  assert [t for t in inside if work in t], inside


def test_batched_refresh_matches_numpy(monkeypatch):
  # On an accelerator the refresh stacks same-shaped factors and vmaps the roots; forced on
  # here (CPU), run eagerly (one LAPACK call at a time: jaxlib's batched CPU kernels can
  # deadlock when two run at once, see shampoo_groups).
  from gradtx.primitives.preconditioning import shampoo_groups

  monkeypatch.setattr(shampoo_groups, "batching", lambda: True)
  shapes = {"w": (6, 5), "w2": (6, 5), "b": (4,), "b2": (4,)}
  params, grads = _data(shapes, 4, seed=2)
  kw = {"precondition_frequency": 2, "start_preconditioning_step": 0}
  tx = gradtx.shampoo(0.05, **kw)
  state, p = tx.init(params), jax.tree.map(jnp.asarray, params)
  ref, q = NumpyShampoo(0.05, **kw), params
  for g in grads:
    u, state = tx.update(g, state, p)
    p, q = gradtx.apply_updates(p, u), ref.step(q, g)
  for k in params:
    np.testing.assert_allclose(p[k], q[k], rtol=1e-9, atol=1e-12, err_msg=k)
