"""`gradtx.projections` against Optax's functions (float64, random trees) and against the
defining property `p = argmin_{q in C} ||x - q||`: an independent NumPy solution (a
bisection on the threshold, a closed form) and no random feasible point closer to `x`."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax import flatten_util

from gradtx import projections as pj

pytestmark = pytest.mark.usefixtures("x64")


class Pair(NamedTuple):
  first: object
  second: object


def _tree(seed, scale=1.0):
  rng = np.random.default_rng(seed)
  f = lambda *s: jnp.asarray(scale * rng.normal(size=s))
  return {"w": f(3, 2), "b": [f(4), f()], "pair": Pair(f(2), f())}


def _flat(tree):
  return np.asarray(flatten_util.ravel_pytree(tree)[0])


def _close(a, b, rtol=1e-10, atol=1e-12):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def _threshold(values, total):
  """theta with sum(max(values - theta, 0)) = total, by bisection (NumPy float64)."""
  lo, hi = values.min() - total, values.max()
  for _ in range(200):
    mid = (lo + hi) / 2
    lo, hi = (mid, hi) if np.maximum(values - mid, 0).sum() > total else (lo, mid)
  return (lo + hi) / 2


def _no_closer_feasible(x, p, samples):
  """No feasible sample is closer to x than p (minimality on random feasible points)."""
  d = np.linalg.norm(x - p)
  assert all(np.linalg.norm(x - q) >= d - 1e-12 for q in samples)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("scale", [1.0, 2.5])
def test_simplex(seed, scale):
  x = _tree(seed, 2.0)
  p = pj.projection_simplex(x, scale)
  _close(p, optax.projections.projection_simplex(x, scale))
  xf, pf = _flat(x), _flat(p)
  np.testing.assert_allclose(pf, np.maximum(xf - _threshold(xf, scale), 0), atol=1e-10)
  assert pf.min() >= 0 and abs(pf.sum() - scale) < 1e-10
  rng = np.random.default_rng(seed)
  _no_closer_feasible(xf, pf, scale * rng.dirichlet(np.ones(xf.size), 500))


@pytest.mark.parametrize("seed", [0, 3])
def test_l1_sphere_and_ball(seed):
  x = _tree(seed)
  xf = _flat(x)
  for scale in (0.5, 2.0, 50.0):  # the last is outside the sphere's shrinking regime
    sphere = pj.projection_l1_sphere(x, scale)
    _close(sphere, optax.projections.projection_l1_sphere(x, scale))
    theta = _threshold(np.abs(xf), scale)
    np.testing.assert_allclose(_flat(sphere), np.sign(xf) * np.maximum(np.abs(xf) - theta, 0),
                               atol=1e-10)
    assert abs(np.abs(_flat(sphere)).sum() - scale) < 1e-9
    ball = pj.projection_l1_ball(x, scale)
    _close(ball, optax.projections.projection_l1_ball(x, scale))
    want = xf if np.abs(xf).sum() <= scale else _flat(sphere)
    np.testing.assert_allclose(_flat(ball), want, atol=1e-10)
    rng = np.random.default_rng(seed)
    inside = rng.normal(size=(300, xf.size))
    inside *= (scale * rng.uniform(size=(300, 1))) / np.abs(inside).sum(1, keepdims=True)
    _no_closer_feasible(xf, _flat(ball), inside)


@pytest.mark.parametrize("scale", [0.3, 100.0])
def test_l2_sphere_and_ball(scale):
  x = _tree(4)
  xf = _flat(x)
  _close(pj.projection_l2_sphere(x, scale), optax.projections.projection_l2_sphere(x, scale))
  _close(pj.projection_l2_ball(x, scale), optax.projections.projection_l2_ball(x, scale))
  np.testing.assert_allclose(_flat(pj.projection_l2_sphere(x, scale)),
                             scale * xf / np.linalg.norm(xf), rtol=1e-12)
  n = np.linalg.norm(xf)
  np.testing.assert_allclose(_flat(pj.projection_l2_ball(x, scale)),
                             xf if n <= scale else scale * xf / n, rtol=1e-12)


def test_boxes():
  x = _tree(5, 2.0)
  lower = jax.tree.map(lambda v: -0.5 * jnp.ones_like(v), x)
  upper = jax.tree.map(lambda v: jnp.full_like(v, 0.7), x)
  o = optax.projections
  _close(pj.projection_box(x, lower, upper), o.projection_box(x, lower, upper))
  _close(pj.projection_non_negative(x), o.projection_non_negative(x))
  _close(pj.projection_hypercube(x["w"], 0.5), o.projection_hypercube(x["w"], 0.5))
  _close(pj.projection_linf_ball(x, 0.4), o.projection_linf_ball(x, 0.4))
  xf = _flat(x)
  np.testing.assert_array_equal(_flat(pj.projection_box(x, -0.5, 0.7)), np.clip(xf, -0.5, 0.7))
  np.testing.assert_array_equal(_flat(pj.projection_hypercube(x)), np.clip(xf, 0, 1))
  np.testing.assert_array_equal(_flat(pj.projection_linf_ball(x, 0.4)), np.clip(xf, -0.4, 0.4))


@pytest.mark.parametrize("b", [-3.0, 0.0, 2.0])
def test_hyperplane_halfspace_vector(b):
  x, a = _tree(6), _tree(7)
  o = optax.projections
  _close(pj.projection_vector(x, a), o.projection_vector(x, a))
  _close(pj.projection_hyperplane(x, a, b), o.projection_hyperplane(x, a, b))
  _close(pj.projection_halfspace(x, a, b), o.projection_halfspace(x, a, b))
  xf, af = _flat(x), _flat(a)
  plane = _flat(pj.projection_hyperplane(x, a, b))
  # KKT: on the plane, and x - p parallel to a
  np.testing.assert_allclose(af @ plane, b, atol=1e-10)
  residual = xf - plane
  np.testing.assert_allclose(residual - (residual @ af) / (af @ af) * af, 0, atol=1e-10)
  half = _flat(pj.projection_halfspace(x, a, b))
  np.testing.assert_allclose(half, xf if af @ xf <= b else plane, atol=1e-12)
  np.testing.assert_allclose(_flat(pj.projection_vector(x, a)), (xf @ af) / (af @ af) * af,
                             rtol=1e-12)


@pytest.mark.slow
def test_simplex_jacobian_matches_optax_and_finite_differences():
  v = jnp.asarray([0.9, 0.1, -0.4, 0.6, 0.05])
  jac = jax.jacobian(pj.projection_simplex)(v)
  np.testing.assert_allclose(jac, jax.jacobian(optax.projections.projection_simplex)(v),
                             atol=1e-12)
  eps = 1e-6
  fd = np.stack([(np.asarray(pj.projection_simplex(v + eps * e))
                  - np.asarray(pj.projection_simplex(v - eps * e))) / (2 * eps)
                 for e in np.eye(5)], 1)
  np.testing.assert_allclose(jac, fd, atol=1e-6)


@pytest.mark.slow
def test_vmap_over_the_radius():
  x = _tree(8)
  scales = jnp.asarray([0.3, 1.0, 30.0])
  for fn in (pj.projection_l1_ball, pj.projection_l2_ball, pj.projection_simplex):
    swept = jax.vmap(lambda s, f=fn: f(x, s))(scales)  # a sweep over the radius
    for i, s in enumerate([0.3, 1.0, 30.0]):
      _close(jax.tree.map(lambda v, i=i: v[i], swept), fn(x, s))


def test_jit_and_errors():
  x = _tree(8)
  _close(jax.jit(pj.projection_l1_ball)(x, 0.5), optax.projections.projection_l1_ball(x, 0.5))
  bad = dict(x, w=jnp.ones((2, 2)))
  with pytest.raises(ValueError, match=r"\['w'\]"):
    pj.projection_hyperplane(x, bad, 1.0)
  with pytest.raises(ValueError, match="pair"):
    pj.projection_box(x, {"w": 0.0, "b": [0.0, 0.0]}, 1.0)
