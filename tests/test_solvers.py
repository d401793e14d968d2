"""Solvers against Optax 0.2.8 (float64, 1e-10) and against NumPy formulas written from
Nocedal & Wright / Loizou et al.: line searches, L-BFGS, Polyak steps, the extra-args
protocol, jit / while_loop / vmap, bad input and non-finite objectives."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx

pytestmark = pytest.mark.usefixtures("x64")

RTOL = 1e-10


def rosenbrock(x):
  return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def quadratic(x):
  scales = jnp.arange(1.0, x.shape[0] + 1.0)
  return 0.5 * jnp.sum(scales * x ** 2) + jnp.sum(x)


def himmelblau(x):
  return (x[0] ** 2 + x[1] - 11.0) ** 2 + (x[0] + x[1] ** 2 - 7.0) ** 2


def trajectory(lib, opt, fun, x0, steps):
  """Params after each of `steps` jitted solver steps, reusing the line search's value
  and gradient through `value_and_grad_from_state` (Optax's documented loop)."""
  value_and_grad = lib.value_and_grad_from_state(fun)

  @jax.jit
  def step(x, state):
    value, grad = value_and_grad(x, state=state)
    updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=fun)
    return lib.apply_updates(x, updates), state

  x, state, out = x0, opt.init(x0), []
  for _ in range(steps):
    x, state = step(x, state)
    out.append(np.asarray(x))
  return np.stack(out), state


# -- line searches: one step against Optax ------------------------------------------


ZOOM_CASES = [
    dict(max_linesearch_steps=30),
    dict(max_linesearch_steps=30, approx_dec_rtol=None, curv_rtol=0.1),
    dict(max_linesearch_steps=30, max_learning_rate=0.5, initial_guess_strategy="one"),
    dict(max_linesearch_steps=4, curv_rtol=0.01),
]


ZOOM_PROBLEMS = [(rosenbrock, np.linspace(-1.0, 1.5, 6)), (himmelblau, np.array([0.3, -2.0])),
                 (quadratic, np.ones(5))]
# Rosenbrock with every case in the default run; the other problems' extra cases are slow.
ZOOM_GRID = [pytest.param(kwargs, fun, x0, marks=() if fun is rosenbrock or i == 0
                          else pytest.mark.slow)
             for fun, x0 in ZOOM_PROBLEMS for i, kwargs in enumerate(ZOOM_CASES)]


@pytest.mark.parametrize("kwargs,fun,x0", ZOOM_GRID)
def test_zoom_step_matches_optax(kwargs, fun, x0):
  x0 = jnp.asarray(x0)
  value, grad = jax.value_and_grad(fun)(x0)
  direction = -0.7 * grad
  results = []
  for lib in (optax, gradtx):
    ls = lib.scale_by_zoom_linesearch(**kwargs)
    state = ls.init(x0)
    results.append(ls.update(direction, state, x0, value=value, grad=grad, value_fn=fun))
  (u_ref, s_ref), (u, s) = results
  np.testing.assert_allclose(u, u_ref, rtol=RTOL)
  np.testing.assert_allclose(s.learning_rate, s_ref.learning_rate, rtol=RTOL)
  np.testing.assert_allclose(s.value, s_ref.value, rtol=RTOL)
  np.testing.assert_allclose(s.grad, s_ref.grad, rtol=RTOL, atol=1e-300)
  assert int(s.info.num_linesearch_steps) == int(s_ref.info.num_linesearch_steps)
  np.testing.assert_allclose(s.info.decrease_error, s_ref.info.decrease_error, rtol=RTOL)
  np.testing.assert_allclose(s.info.curvature_error, s_ref.info.curvature_error, rtol=RTOL)


@pytest.mark.parametrize("kwargs", [dict(max_backtracking_steps=30),
                                    dict(max_backtracking_steps=3, decrease_factor=0.5,
                                         slope_rtol=0.3, increase_factor=2.0),
                                    dict(max_backtracking_steps=30, atol=1e-3, rtol=1e-2,
                                         store_grad=True)])
@pytest.mark.parametrize("fun,x0", [(rosenbrock, np.linspace(-1.0, 1.5, 6)),
                                    pytest.param(himmelblau, np.array([0.3, -2.0]),
                                                 marks=pytest.mark.slow)])
def test_backtracking_steps_match_optax(kwargs, fun, x0):
  x0 = jnp.asarray(x0)
  results = []
  for lib in (optax, gradtx):
    tx = lib.chain(lib.sgd(1.0), lib.scale_by_backtracking_linesearch(**kwargs))
    x, state = x0, tx.init(x0)
    for _ in range(3):
      value, grad = jax.value_and_grad(fun)(x)
      updates, state = tx.update(grad, state, x, value=value, grad=grad, value_fn=fun)
      x = lib.apply_updates(x, updates)
    results.append((x, state[-1]))
  (x_ref, s_ref), (x, s) = results
  np.testing.assert_allclose(x, x_ref, rtol=RTOL)
  np.testing.assert_allclose(s.learning_rate, s_ref.learning_rate, rtol=RTOL)
  np.testing.assert_allclose(s.value, s_ref.value, rtol=RTOL)
  assert int(s.info.num_linesearch_steps) == int(s_ref.info.num_linesearch_steps)
  if kwargs.get("store_grad"):
    np.testing.assert_allclose(s.grad, s_ref.grad, rtol=RTOL)
  else:
    assert s.grad is None


def test_backtracking_forwards_batch_arguments():
  """Extra keyword arguments reach `value_fn` (Optax's `x=..., y=...` protocol)."""
  def fn(w, x, y):
    return jnp.sum((x @ w - y) ** 2)
  rng = np.random.default_rng(0)
  x, y, w = jnp.asarray(rng.normal(size=(8, 3))), jnp.asarray(rng.normal(size=8)), jnp.zeros(3)
  out = []
  for lib in (optax, gradtx):
    tx = lib.chain(lib.sgd(1.0), lib.scale_by_backtracking_linesearch(15))
    value, grad = jax.value_and_grad(fn)(w, x, y)
    out.append(tx.update(grad, tx.init(w), w, value=value, grad=grad, value_fn=fn, x=x, y=y)[0])
  np.testing.assert_allclose(out[1], out[0], rtol=RTOL)


# -- L-BFGS ---------------------------------------------------------------------------


def _dense_inverse_hessian(s, y, gamma):
  """N&W eq. (7.19) by matrices: `H = V^T H V + rho s s^T` from `H_0 = gamma I`, oldest
  pair first (independent of the two-loop recursion)."""
  n = s.shape[1]
  h = gamma * np.eye(n)
  for si, yi in zip(s, y):
    rho = 1.0 / (yi @ si)
    v = np.eye(n) - rho * np.outer(yi, si)
    h = v.T @ h @ v + rho * np.outer(si, si)
  return h


def test_two_loop_recursion_matches_dense_formula():
  from gradtx.solvers.lbfgs import precondition
  rng = np.random.default_rng(1)
  m, n, newest = 4, 6, 1
  a = rng.normal(size=(n, n))
  hess = a @ a.T + n * np.eye(n)
  s = rng.normal(size=(m, n))
  y = s @ hess  # curvature pairs of a convex quadratic
  g = rng.normal(size=n)
  order = [(newest + 1 + i) % m for i in range(m)]  # oldest first in the ring buffer
  expected = _dense_inverse_hessian(s[order], y[order], 0.7) @ g
  rho = 1.0 / np.sum(s * y, axis=1)
  got = precondition(jnp.asarray(g), jnp.asarray(s), jnp.asarray(y), jnp.asarray(rho),
                     jnp.asarray(0.7), jnp.asarray(newest))
  np.testing.assert_allclose(got, expected, rtol=1e-10)


LBFGS_CASES = [
    (lambda L: L.lbfgs(), 40),
    pytest.param(lambda L: L.lbfgs(memory_size=3, scale_init_precond=False), 40,
                 marks=pytest.mark.slow),
    (lambda L: L.lbfgs(linesearch=L.scale_by_backtracking_linesearch(20, store_grad=True)), 30),
    pytest.param(lambda L: L.lbfgs(linesearch=L.scale_by_zoom_linesearch(
        15, approx_dec_rtol=None)), 40, marks=pytest.mark.slow),
]


@pytest.mark.parametrize("make,steps", LBFGS_CASES)
@pytest.mark.parametrize("fun,x0", [(rosenbrock, np.zeros(10)), (quadratic, np.ones(10))])
def test_lbfgs_trajectory_matches_optax(make, steps, fun, x0):
  x0 = jnp.asarray(x0)
  ref, _ = trajectory(optax, make(optax), fun, x0, steps)
  got, _ = trajectory(gradtx, make(gradtx), fun, x0, steps)
  np.testing.assert_allclose(got, ref, rtol=RTOL, atol=RTOL * np.abs(ref).max())


def test_lbfgs_fixed_step_without_linesearch_matches_optax():
  x0 = jnp.asarray(np.linspace(-1.0, 1.0, 5))
  out = []
  for lib in (optax, gradtx):
    tx = lib.lbfgs(learning_rate=1e-3, memory_size=4, linesearch=None)

    def body(_, carry, tx=tx, lib=lib):
      x, state = carry
      updates, state = tx.update(jax.grad(rosenbrock)(x), state, x)
      return lib.apply_updates(x, updates), state
    out.append(jax.jit(lambda x, tx=tx, body=body: jax.lax.fori_loop(
        0, 12, body, (x, tx.init(x)))[0])(x0))
  np.testing.assert_allclose(out[1], out[0], rtol=RTOL)


def test_lbfgs_pytree_params_match_flat_params():
  """A tree of params is the same vector as its concatenation."""
  def tree_fun(p):
    return rosenbrock(jnp.concatenate([p["a"], p["b"].ravel()]))
  flat0 = jnp.asarray(np.linspace(-0.5, 0.5, 7))
  tree0 = {"a": flat0[:3], "b": flat0[3:].reshape(2, 2)}
  flat, _ = trajectory(gradtx, gradtx.lbfgs(), rosenbrock, flat0, 8)
  value_and_grad, opt = gradtx.value_and_grad_from_state(tree_fun), gradtx.lbfgs()

  def body(_, carry):
    x, state = carry
    value, grad = value_and_grad(x, state=state)
    updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=tree_fun)
    return gradtx.apply_updates(x, updates), state
  x, _ = jax.jit(lambda x: jax.lax.fori_loop(0, 8, body, (x, opt.init(x))))(tree0)
  np.testing.assert_allclose(np.concatenate([x["a"], x["b"].ravel()]), flat[-1], rtol=1e-12)


def test_zoom_follows_nocedal_wright_order_where_optax_differs():
  """N&W Algorithms 3.5/3.6 end an interval at a trial above the previous (or `low`) point
  before testing curvature; Optax 0.2.8 accepts such a trial if it satisfies both Wolfe
  conditions. phi is the quintic with phi(0) = 0, phi'(0) = -1, phi(1) = phi'(1) = -1,
  phi(2) = -0.5, phi'(2) = 0.5: t = 1 fails curvature, t = 2 satisfies both conditions but
  is above t = 1. Optax returns 2; gradtx zooms into [1, 2] (docs/differences.md)."""
  rows, rhs = [], []
  for t, value, slope in [(0, 0, -1), (1, -1, -1), (2, -0.5, 0.5)]:
    rows += [[t ** k for k in range(6)], [k * t ** (k - 1) if k else 0 for k in range(6)]]
    rhs += [value, slope]
  coef = np.linalg.solve(np.array(rows, float), np.array(rhs, float))
  phi = lambda w: jnp.polyval(jnp.asarray(coef[::-1]), w[0])
  w = jnp.zeros(1)
  value, grad = jax.value_and_grad(phi)(w)
  out = {}
  for lib in (optax, gradtx):
    ls = lib.scale_by_zoom_linesearch(10, approx_dec_rtol=None, initial_guess_strategy="one")
    out[lib.__name__] = ls.update(-grad, ls.init(w), w, value=value, grad=grad, value_fn=phi)[1]
  assert float(out["optax"].learning_rate) == 2.0
  t = float(out["gradtx"].learning_rate)
  assert 1.0 < t < 2.0 and float(phi(jnp.asarray([t]))) < -1.0
  slope = float(jax.grad(phi)(jnp.asarray([t]))[0])
  assert abs(slope) <= 0.9 * 1.0 and float(phi(jnp.asarray([t]))) <= -1e-4 * t
