"""gradtx.contrib.galore against NumPy float64 written from Zhao et al. (2024), Algorithm 2
(Adam in the projected space, the projector from the gradient's SVD every T steps, the
scale factor alpha, left projector for m <= n), against Optax 0.2.8 where they agree, and
its errors."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from _contrib_problems import coupled_grad_np, coupled_loss
from gradtx import contrib as gc

pytestmark = pytest.mark.usefixtures("x64")

B1, B2, EPS = 0.9, 0.999, 1e-8


def _params(rng=None):
  rng = np.random.default_rng(0) if rng is None else rng
  return {"wide": rng.normal(size=(5, 9)), "tall": rng.normal(size=(9, 4)),
          "sq": rng.normal(size=(6, 6)), "attn": rng.normal(size=(6, 2, 3)),
          "b": rng.normal(size=7)}


DIMS = {"wide": gc.GaLoreDimensionNumbers(), "tall": gc.GaLoreDimensionNumbers(),
        "sq": gc.GaLoreDimensionNumbers(), "attn": gc.GaLoreDimensionNumbers(0, (1, 2)),
        "b": None}


def _fixed_sign(b):
  """Each column's largest-magnitude entry positive (`canonical_signs=True`)."""
  idx = np.argmax(np.abs(b), axis=0)
  return b * np.sign(b[idx, np.arange(b.shape[1])])


def _as_matrix(name, x):
  return x.reshape(6, 6) if name == "attn" else x


def numpy_galore(params, steps, lr, rank, gap, scale, wd, canonical=False):
  """Algorithm 2 of the paper, with decoupled weight decay `w -= lr wd w` (the reference's
  GaLore-AdamW), in NumPy float64; yields the params after each step. The basis keeps
  LAPACK's signs (NumPy's SVD is LAPACK's gesdd, as JAX's on CPU), or with `canonical`
  each column's largest entry is made positive."""
  p = {k: v.copy() for k, v in params.items()}
  m = {k: 0.0 for k in p}
  v = {k: 0.0 for k in p}
  proj = {}
  for t in range(steps):
    g = coupled_grad_np(p)
    for k in p:
      if DIMS[k] is None:
        r_t = g[k]
      else:
        gm = _as_matrix(k, g[k])
        rows, cols = gm.shape
        left = rows <= cols  # the paper: W in R^{m x n}, m <= n, P = U[:, :r]
        r = min(rank, rows, cols)
        if t % gap == 0:
          u, _, vh = np.linalg.svd(gm, full_matrices=False)
          basis = u[:, :r] if left else vh[:r].T
          proj[k] = _fixed_sign(basis) if canonical else basis
        r_t = proj[k].T @ gm if left else gm @ proj[k]
      m[k] = B1 * m[k] + (1 - B1) * r_t
      v[k] = B2 * v[k] + (1 - B2) * r_t ** 2
      n_t = (m[k] / (1 - B1 ** (t + 1))) / (np.sqrt(v[k] / (1 - B2 ** (t + 1))) + EPS)
      if DIMS[k] is None:
        upd = n_t
      else:
        rows, cols = _as_matrix(k, g[k]).shape
        left = rows <= cols
        upd = scale * (proj[k] @ n_t if left else n_t @ proj[k].T)
        upd = upd.reshape(p[k].shape)
      p[k] = p[k] - lr * (upd + wd * p[k])
    yield {k: x.copy() for k, x in p.items()}


def _separable(p):
  return sum(jnp.sum(jnp.sin(2 * x) + 0.05 * x ** 4 + 0.3 * x) for x in jax.tree.leaves(p))


def _run(opt, params, steps, loss=coupled_loss):
  params = jax.tree.map(jnp.asarray, params)
  state = opt.init(params)

  @jax.jit
  def step(p, s):
    u, s = opt.update(jax.grad(loss)(p), s, p)
    return gradtx.apply_updates(p, u), s

  for _ in range(steps):
    params, state = step(params, state)
    yield params, state


@pytest.mark.parametrize("canonical", [False, True])
@pytest.mark.parametrize("base", ["default", "optax_scale_by_adam", "gradtx_scale_by_adam"])
def test_matches_the_paper_step_by_step(base, canonical):
  kw = dict(learning_rate=0.02, rank=2, update_proj_gap=3, scale=0.25, weight_decay=0.01,
            canonical_signs=canonical)
  if base == "optax_scale_by_adam":
    kw["base_optimizer"] = optax.scale_by_adam(B1, B2, EPS)
  elif base == "gradtx_scale_by_adam":
    kw["base_optimizer"] = gradtx.scale_by_adam(B1, B2, EPS)
  opt = gc.galore(**kw, weight_dimension_numbers=DIMS)
  params = _params()
  ref = numpy_galore(params, 10, 0.02, 2, 3, 0.25, 0.01, canonical)
  for i, ((ours, _), theirs) in enumerate(zip(_run(opt, params, 10), ref)):
    for k in theirs:
      np.testing.assert_allclose(np.asarray(ours[k]), theirs[k], rtol=1e-7, atol=1e-9,
                                 err_msg=f"step {i + 1}, leaf {k}")


def _optax_run(opt, params, steps, loss=coupled_loss):
  params = jax.tree.map(jnp.asarray, params)
  state = opt.init(params)
  step = jax.jit(lambda p, s: (lambda u, s: (optax.apply_updates(p, u), s))(
      *opt.update(jax.grad(loss)(p), s, p)))
  for _ in range(steps):
    params, state = step(params, state)
    yield params


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32])
def test_matches_optax_where_they_agree(dtype):
  """Square matrices (both project on the left), one SVD (update_proj_gap > steps; Adam is
  then invariant to the basis' signs), Adam base and weight decay, on a loss without
  coupling between leaves. The unprojected leaf agrees to 1e-10 in float64; Optax computes the SVD in float32 (gradtx in the gradient's
  dtype), so the projected leaves agree to float32 accuracy."""
  rng = np.random.default_rng(1)
  params = {"sq": rng.normal(size=(8, 8)), "attn": rng.normal(size=(6, 2, 3)),
            "b": rng.normal(size=5)}
  params = jax.tree.map(lambda x: jnp.asarray(x, dtype), params)
  kw = dict(learning_rate=0.01, rank=3, update_proj_gap=100, scale=0.5, weight_decay=0.1)
  dims = {"sq": gc.GaLoreDimensionNumbers(), "attn": gc.GaLoreDimensionNumbers(0, (1, 2)),
          "b": None}
  ours = _run(gc.galore(**kw, weight_dimension_numbers=dims), params, 30, _separable)
  theirs = _optax_run(optax.contrib.galore(
      **kw, weight_dimension_numbers={"sq": optax.contrib.GaLoreDimensionNumbers(),
                                      "attn": optax.contrib.GaLoreDimensionNumbers(0, (1, 2)),
                                      "b": None}), params, 30, _separable)
  for i, ((a, _), b) in enumerate(zip(ours, theirs)):
    for k in a:
      assert a[k].dtype == b[k].dtype == dtype
      tol = 1e-10 if (k == "b" and dtype == jnp.float64) else 2e-5
      np.testing.assert_allclose(np.asarray(a[k]), np.asarray(b[k]), rtol=tol, atol=tol,
                                 err_msg=f"step {i + 1}, leaf {k}")


def test_stateless_base_matches_optax_on_every_side():
  """With a linear, stateless base (`identity`) and a new SVD every step, either side gives
  the rank-r truncated SVD of the gradient, so Optax and gradtx agree on tall and wide
  leaves too (to Optax's float32 SVD)."""
  params = jax.tree.map(jnp.asarray, _params())
  del params["attn"]
  kw = dict(learning_rate=0.05, rank=2, update_proj_gap=1)
  ours = _run(gc.galore(**kw, base_optimizer=gradtx.identity()), params, 15)
  theirs = _optax_run(optax.contrib.galore(**kw, base_optimizer=optax.identity()), params, 15)
  for (a, _), b in zip(ours, theirs):
    for k in a:
      np.testing.assert_allclose(np.asarray(a[k]), np.asarray(b[k]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("canonical", [False, True])
def test_projectors_shapes_orthonormal_and_refreshed_every_gap(canonical):
  params = jax.tree.map(jnp.asarray, _params())
  opt = gc.galore(0.01, rank=3, update_proj_gap=4, weight_dimension_numbers=DIMS,
                  canonical_signs=canonical)
  gs = opt.init(params)[0]
  # the paper's side: left P (m, r) for m <= n, right Q (n, r) for m > n
  want_p = {"wide": (5, 3), "tall": (4, 3), "sq": (6, 3), "attn": (6, 3), "b": (0, 0)}
  want_m = {"wide": (3, 9), "tall": (9, 3), "sq": (3, 6), "attn": (3, 6), "b": (7,)}
  assert {k: x.shape for k, x in gs.projector.items()} == want_p
  assert {k: x.shape for k, x in gs.base_optimizer_state.mu.items()} == want_m
  clipped = gc.galore(0.01, rank=999).init({"w": jnp.zeros((10, 3))})[0]
  assert clipped.projector["w"].shape == (3, 3)  # r = min(rank, m, n)
  seen = []
  for params, state in _run(opt, params, 9):
    seen.append(state[0].projector)
  for k in ("wide", "tall", "sq", "attn"):
    p = np.asarray(seen[0][k])
    np.testing.assert_allclose(p.T @ p, np.eye(3), atol=1e-12)
    if canonical:
      np.testing.assert_array_equal(p[np.argmax(np.abs(p), 0), np.arange(3)] > 0, True)
    for i in (1, 2, 3):  # steps 2-4 reuse the projector of step 1
      np.testing.assert_array_equal(seen[i][k], seen[0][k])
    assert not np.allclose(seen[4][k], seen[3][k])  # step 5 (count 4) recomputes it
    np.testing.assert_array_equal(seen[5][k], seen[4][k])


def test_scale_applies_to_projected_leaves_only():
  params = {"w": jnp.ones((4, 6)), "b": jnp.ones(3)}
  grads = {"w": jnp.asarray(np.random.default_rng(2).normal(size=(4, 6))), "b": jnp.ones(3)}
  one = gc.scale_by_galore(rank=2, base_optimizer=gradtx.identity())
  half = gc.scale_by_galore(rank=2, scale=0.5, base_optimizer=gradtx.identity())
  u1, _ = one.update(grads, one.init(params))
  u2, _ = half.update(grads, half.init(params))
  np.testing.assert_allclose(u2["w"], 0.5 * u1["w"], rtol=1e-14)
  np.testing.assert_array_equal(u2["b"], u1["b"])
  u, s, vh = np.linalg.svd(np.asarray(grads["w"]))
  np.testing.assert_allclose(u1["w"], (u[:, :2] * s[:2]) @ vh[:2], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kwargs,match,error", [
    (dict(rank=0), "rank=0", ValueError),
    (dict(rank=2.5), "rank=2.5", TypeError),
    (dict(update_proj_gap=0), "update_proj_gap=0", ValueError),
    (dict(update_proj_gap=1.5), "update_proj_gap=1.5", ValueError),
    (dict(scale=float("nan")), "scale=nan", ValueError),
    (dict(base_optimizer="adam"), "base_optimizer='adam'", TypeError),
    (dict(weight_dimension_numbers={"w": 0}), "weight_dimension_numbers holds 0", TypeError),
])
def test_bad_hyperparameters_named_at_construction(kwargs, match, error):
  with pytest.raises(error, match=match):
    gc.galore(0.1, **kwargs)


@pytest.mark.parametrize("dims,match", [
    ({"w": gc.GaLoreDimensionNumbers(0, 0), "b": None}, r"\['w'\].*must split"),
    ({"w": gc.GaLoreDimensionNumbers(0, 2), "b": None}, r"\['w'\].*axis 2, out of range"),
    ({"w": gc.GaLoreDimensionNumbers((), 1), "b": None}, r"\['w'\].*empty"),
    ({"w": None, "b": gc.GaLoreDimensionNumbers()}, r"\['b'\] has shape \(3,\)"),
    ({"w": None}, "does not match the params"),
    (gc.GaLoreDimensionNumbers(), None),
])
def test_impossible_dimension_numbers_name_the_leaf(dims, match):
  params = {"w": jnp.ones((4, 6)), "b": jnp.ones(3), "k": jnp.ones((2, 3, 4))}
  if match is None:  # one spec for all: the 3-D leaf `k` leaves an axis unnamed
    with pytest.raises(ValueError, match=r"\['k'\].*must split"):
      gc.galore(0.1, weight_dimension_numbers=dims).init(params)
    return
  del params["k"]
  with pytest.raises(ValueError, match=match):
    gc.galore(0.1, weight_dimension_numbers=dims).init(params)


def test_mismatched_state_and_params_based_base_are_clear_errors():
  params = {"w": jnp.ones((4, 6)), "b": jnp.ones(3)}
  state = gc.galore(0.1, rank=2).init(params)
  with pytest.raises(ValueError, match=r"\['w'\].*projector state has shape \(4, 2\)"):
    gc.galore(0.1, rank=3).update(params, state, params)
  with pytest.raises(ValueError, match="tree"):
    gc.galore(0.1, rank=2).update({"w": params["w"]}, state, params)
  with pytest.raises(ValueError, match="params"):
    tx = gc.galore(0.1, base_optimizer=gradtx.adamw(0.1))
    tx.update(params, tx.init(params), params)


def test_jit_new_learning_rate_does_not_retrace():
  params = {"w": jnp.asarray(np.random.default_rng(3).normal(size=(4, 6))), "b": jnp.ones(3)}
  traces = []

  @jax.jit
  def step(opt, p, s):
    traces.append(1)
    u, s = opt.update(jax.grad(coupled_loss)(p), s, p)
    return gradtx.apply_updates(p, u), s

  for lr in (0.01, 0.02, 0.03):
    opt = gc.galore(lr, rank=2, update_proj_gap=2)
    step(opt, params, opt.init(params))
  assert len(traces) == 1


@pytest.mark.slow  # ~25 s on the loaded machine
def test_vmap_over_learning_rate_equals_separate_runs():
  params = {"w": jnp.asarray(np.random.default_rng(3).normal(size=(4, 6))), "b": jnp.ones(3)}

  def run(lr):
    opt = gc.galore(lr, rank=2, update_proj_gap=2)
    p, s = params, opt.init(params)
    for _ in range(3):
      u, s = opt.update(jax.grad(coupled_loss)(p), s, p)
      p = gradtx.apply_updates(p, u)
    return p

  batched = jax.jit(jax.vmap(run))(jnp.array([0.01, 0.05]))
  for i, lr in enumerate((0.01, 0.05)):
    for k in params:
      np.testing.assert_allclose(batched[k][i], run(lr)[k], rtol=1e-12, atol=1e-14)


def test_bfloat16_params_keep_their_dtype_and_nan_steps_are_skipped():
  params = {"w": jnp.ones((4, 6), jnp.bfloat16), "b": jnp.ones(3, jnp.bfloat16)}
  opt = gc.galore(0.01, rank=2)
  state = opt.init(params)
  assert state[0].projector["w"].dtype == jnp.float32  # house policy: >= float32
  grads = jax.tree.map(lambda x: x * 0.5, params)
  grads["w"] = grads["w"].at[0, 1].set(2.0)
  u, _ = jax.jit(opt.update)(grads, state, params)
  assert {k: x.dtype for k, x in u.items()} == {"w": jnp.bfloat16, "b": jnp.bfloat16}
  assert all(bool(jnp.all(jnp.isfinite(x))) for x in u.values())
  wrapped = gradtx.apply_if_finite(gc.galore(0.01, rank=2), 3)
  p32 = jax.tree.map(lambda x: x.astype(jnp.float32), params)
  s = wrapped.init(p32)
  bad = jax.tree.map(lambda x: x.at[0].set(jnp.nan), p32)
  u, s = wrapped.update(bad, s, p32)
  np.testing.assert_array_equal(gradtx.apply_updates(p32, u)["w"], p32["w"])


# -- the reliability suites' checks (tests/test_errors.py, test_dtypes.py, test_properties.py
# enumerate gradtx's top-level factories; contrib optimizers are checked in their own files)


@pytest.mark.parametrize("canonical", [False, True])
def test_complex_params_against_numpy(canonical):
  """Complex leaves: `P = U[:, :r]` of the complex SVD, `u = alpha P P^H G` (identity base);
  a tall leaf: `u = alpha G Q Q^H`, `Q = V[:, :r]`; with `canonical_signs` each column's
  largest entry is real and positive."""
  rng = np.random.default_rng(4)
  c = lambda *s: jnp.asarray(rng.normal(size=s) + 1j * rng.normal(size=s))
  params, grads = {"w": c(3, 5), "t": c(6, 3)}, {"w": c(3, 5), "t": c(6, 3)}
  tx = gc.scale_by_galore(rank=2, scale=0.5, base_optimizer=gradtx.identity(),
                          canonical_signs=canonical)
  u, state = tx.update(grads, tx.init(params))
  for k, left in (("w", True), ("t", False)):
    g = np.asarray(grads[k])
    uu, _, vh = np.linalg.svd(g, full_matrices=False)
    want = 0.5 * (uu[:, :2] @ uu[:, :2].conj().T @ g if left else g @ vh[:2].conj().T @ vh[:2])
    np.testing.assert_allclose(np.asarray(u[k]), want, rtol=1e-10, atol=1e-12)
    p = np.asarray(state.projector[k])
    np.testing.assert_allclose(p.conj().T @ p, np.eye(p.shape[1]), atol=1e-12)
    if canonical:
      top = p[np.argmax(np.abs(p), 0), np.arange(p.shape[1])]
      np.testing.assert_allclose(top.imag, 0, atol=1e-15)
      assert np.all(top.real > 0)


@pytest.mark.parametrize("param_dtype,state_dtype", [(jnp.float32, jnp.bfloat16),
                                                     (jnp.bfloat16, jnp.float16)])
def test_state_dtype_sets_projectors_and_default_adam_moments(param_dtype, state_dtype):
  params = {"w": jnp.ones((4, 6), param_dtype), "b": jnp.ones(3, param_dtype)}
  tx = gc.galore(0.01, rank=2, state_dtype=state_dtype)
  state = tx.init(params)
  leaves = [x for x in jax.tree.leaves(state) if x.ndim > 0 and x.size > 0]
  assert leaves and {x.dtype for x in leaves} == {jnp.dtype(state_dtype)}
  u, new_state = jax.jit(tx.update)(jax.tree.map(lambda p: p * 0.5, params), state, params)
  assert {x.dtype for x in jax.tree.leaves(u)} == {jnp.dtype(param_dtype)}
  assert jax.tree.structure(new_state) == jax.tree.structure(state)
  assert [x.dtype for x in jax.tree.leaves(new_state)] == [x.dtype for x in jax.tree.leaves(state)]


def test_float32_params_under_x64_keep_float32_state_and_updates():
  params = {"w": jnp.ones((4, 6), jnp.float32), "b": jnp.ones(3, jnp.float32)}
  tx = gc.galore(0.01, rank=2)
  state = tx.init(params)
  u, state = tx.update(jax.tree.map(lambda p: p * 0.5, params), state, params)
  assert {x.dtype for x in jax.tree.leaves(u)} == {jnp.dtype(jnp.float32)}
  assert {x.dtype for x in jax.tree.leaves(state[0]) if x.ndim} == {jnp.dtype(jnp.float32)}


def test_odd_trees_empty_scalars_and_unknown_extra_args():
  tx = gc.galore(0.01, rank=2)
  u, _ = tx.update({}, tx.init({}), {})
  assert u == {}
  params = {"s": jnp.asarray(1.5), "w": jnp.ones((3, 4)), "n": [jnp.ones(2), (jnp.ones((2, 2)),)]}
  state = tx.init(params)
  u, state = tx.update(params, state, params, some_unknown_arg=1.0)
  assert jax.tree.structure(u) == jax.tree.structure(params)
  assert all(a.shape == b.shape for a, b in zip(jax.tree.leaves(u), jax.tree.leaves(params)))


@pytest.mark.parametrize("bad", [jnp.int32, jnp.bool_])
def test_integer_params_and_gradients_are_refused_by_leaf_path(bad):
  params = {"w": jnp.ones((3, 4)), "b": jnp.ones(2)}
  tx = gc.galore(0.01, rank=2)
  with pytest.raises(TypeError, match=r"\['b'\]"):
    tx.init({"w": params["w"], "b": jnp.ones(2, bad)})
  state = tx.init(params)
  with pytest.raises((TypeError, ValueError), match=r"\['b'\]"):
    tx.update({"w": params["w"], "b": jnp.ones(2, bad)}, state, params)


def test_checkpoint_resume_is_bit_identical():
  import pickle

  params = jax.tree.map(jnp.asarray, _params())
  opt = gc.galore(0.01, rank=2, update_proj_gap=2, weight_dimension_numbers=DIMS)
  step = jax.jit(lambda p, s: (lambda u, s: (gradtx.apply_updates(p, u), s))(
      *opt.update(jax.grad(coupled_loss)(p), s, p)))
  p, s = params, opt.init(params)
  for _ in range(3):
    p, s = step(p, s)
  p2, s2 = pickle.loads(pickle.dumps((p, s)))
  for _ in range(3):
    p, s = step(p, s)
    p2, s2 = step(p2, s2)
  for a, b in zip(jax.tree.leaves((p, s)), jax.tree.leaves((p2, s2))):
    assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
