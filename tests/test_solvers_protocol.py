"""Solvers: jit / lax.while_loop / vmap, Polyak steps, bad input, non-finite objectives,
`value_and_grad_from_state`. References: Optax 0.2.8 (float64) and NumPy formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx

pytestmark = pytest.mark.usefixtures("x64")


def rosenbrock(x):
  return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def solve(opt, fun, x0, steps, lib=gradtx):
  """`steps` L-BFGS iterations inside one `lax.while_loop` (whole solve jitted)."""
  value_and_grad = lib.value_and_grad_from_state(fun)

  def body(carry):
    x, state, k = carry
    value, grad = value_and_grad(x, state=state)
    updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=fun)
    return lib.apply_updates(x, updates), state, k + 1

  x, state, _ = jax.lax.while_loop(lambda c: c[2] < steps, body, (x0, opt.init(x0), 0))
  return x, state


def optax_solve(opt, fun, x0, steps):
  """Optax's solver in the same jitted `lax.while_loop` (the reference)."""
  return jax.jit(lambda x: solve(opt, fun, x, steps, lib=optax)[0])(x0)


def test_while_loop_solve_matches_optax():
  x0 = jnp.zeros(6)
  got, _ = jax.jit(lambda x: solve(gradtx.lbfgs(), rosenbrock, x, 25))(x0)
  ref = optax_solve(optax.lbfgs(), rosenbrock, x0, 25)
  np.testing.assert_allclose(got, ref, rtol=1e-10)


def test_vmap_over_starting_points():
  starts = jnp.asarray(np.random.default_rng(0).uniform(-1.5, 1.5, size=(3, 4)))
  batched, _ = jax.jit(jax.vmap(lambda x: solve(gradtx.lbfgs(), rosenbrock, x, 20)))(starts)
  refs = jax.jit(jax.vmap(lambda x: solve(optax.lbfgs(), rosenbrock, x, 20, lib=optax)[0]))(starts)
  for lane, ref in zip(batched, refs):
    np.testing.assert_allclose(lane, ref, rtol=1e-9, atol=1e-12)


@pytest.mark.slow
def test_vmap_over_line_search_hyperparameters():
  """c1 (slope_rtol) and c2 (curv_rtol) are pytree leaves: one vmapped solve, each lane
  equal to Optax's solver built with that lane's numbers."""
  c1s, c2s = jnp.asarray([1e-4, 1e-3, 0.2]), jnp.asarray([0.9, 0.5, 0.3])
  x0 = jnp.asarray([-1.2, 1.0, -0.5])

  def run(c1, c2):
    ls = gradtx.scale_by_zoom_linesearch(20, slope_rtol=c1, curv_rtol=c2,
                                         initial_guess_strategy="one")
    return solve(gradtx.lbfgs(linesearch=ls), rosenbrock, x0, 15)[0]

  batched = jax.jit(jax.vmap(run))(c1s, c2s)
  for lane, c1, c2 in zip(batched, c1s, c2s):
    ls = optax.scale_by_zoom_linesearch(20, slope_rtol=float(c1), curv_rtol=float(c2),
                                        initial_guess_strategy="one")
    ref = optax_solve(optax.lbfgs(linesearch=ls), rosenbrock, x0, 15)
    np.testing.assert_allclose(lane, ref, rtol=1e-9, atol=1e-12)


def test_optimizer_as_jit_argument_does_not_recompile():
  traces = []

  @jax.jit
  def step(opt, x, state):
    traces.append(1)
    value, grad = jax.value_and_grad(rosenbrock)(x)
    return opt.update(grad, state, x, value=value, grad=grad, value_fn=rosenbrock)

  x = jnp.zeros(3)
  for lr in (1.0, 0.5):
    opt = gradtx.lbfgs(learning_rate=lr)
    step(opt, x, opt.init(x))
  assert len(traces) == 1


# -- Polyak ---------------------------------------------------------------------------


def _polyak_numpy(g, value, f_min, max_lr, eps, plus):
  gap = value - f_min
  if plus:
    gap = max(gap, 0.0)
  den = float(np.sum(g * g)) + eps
  return 0.0 if den <= np.finfo(np.float64).eps else min(gap / den, max_lr)


@pytest.mark.parametrize("variant", ["sps", "sps+"])
@pytest.mark.parametrize("f_min,max_lr,eps", [(0.0, 1.0, 0.0), (5.0, 0.01, 1e-3), (-1.0, 10.0, 0.0)])
def test_scale_by_polyak_formula_and_optax(variant, f_min, max_lr, eps):
  g = np.array([0.3, -1.2, 2.0])
  for value in (4.0, 0.5):
    expected = _polyak_numpy(g, value, f_min, max_lr, eps, variant == "sps+") * g
    tx = gradtx.scale_by_polyak(f_min, max_lr, eps, variant)
    got, _ = tx.update(jnp.asarray(g), tx.init(g), value=jnp.asarray(value))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    ref_tx = optax.scale_by_polyak(f_min, max_lr, eps, variant)
    ref, _ = ref_tx.update(jnp.asarray(g), ref_tx.init(g), value=jnp.asarray(value))
    np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_polyak_sgd_matches_optax_at_scaling_one_and_the_formula_otherwise():
  g, value = jnp.asarray([0.3, -1.2, 2.0]), jnp.asarray(3.0)
  ref_tx = optax.polyak_sgd(max_learning_rate=5.0)
  ref, _ = ref_tx.update(g, ref_tx.init(g), g, value=value)
  got_tx = gradtx.polyak_sgd(max_learning_rate=5.0)
  got, _ = got_tx.update(g, got_tx.init(g), g, value=value)
  np.testing.assert_allclose(got, ref, rtol=1e-12)
  # scaling s: w <- w - s min(gap / |g|^2, max_lr) g (Optax's docstring and Loizou et al.)
  tx = gradtx.polyak_sgd(max_learning_rate=5.0, scaling=0.5)
  got, _ = tx.update(g, tx.init(g), g, value=value)
  np.testing.assert_allclose(got, -0.5 * _polyak_numpy(np.asarray(g), 3.0, 0, 5.0, 0, False)
                             * np.asarray(g), rtol=1e-12)


def test_polyak_zero_gradient_is_a_zero_step():
  tx = gradtx.scale_by_polyak()
  got, _ = tx.update(jnp.zeros(3), tx.init(jnp.zeros(3)), value=1.0)
  np.testing.assert_array_equal(got, np.zeros(3))


# -- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: gradtx.lbfgs(),
                                  lambda: gradtx.scale_by_zoom_linesearch(5),
                                  lambda: gradtx.scale_by_backtracking_linesearch(5)])
@pytest.mark.parametrize("drop", ["value", "grad", "value_fn"])
def test_missing_objective_arguments_are_named_at_trace_time(make, drop):
  opt, x = make(), jnp.ones(2)
  kwargs = dict(value=rosenbrock(x), grad=jax.grad(rosenbrock)(x), value_fn=rosenbrock)
  del kwargs[drop]
  with pytest.raises(TypeError, match=f"`{drop}`"):
    jax.jit(lambda x, s: opt.update(jnp.ones(2), s, x, **kwargs))(x, opt.init(x))


def test_polyak_needs_value():
  with pytest.raises(TypeError, match="`value`"):
    gradtx.polyak_sgd().update(jnp.ones(2), gradtx.polyak_sgd().init(jnp.ones(2)), jnp.ones(2))


def test_unused_extra_argument_is_an_error():
  opt, x = gradtx.scale_by_zoom_linesearch(5), jnp.ones(2)
  with pytest.raises(TypeError, match="batchh"):
    opt.update(-x, opt.init(x), x, value=1.0, grad=x, value_fn=lambda p, batch: 1.0,
               batch=1.0, batchh=2.0)


@pytest.mark.parametrize("build,match", [
    (lambda: gradtx.lbfgs(memory_size=0), "memory_size"),
    (lambda: gradtx.scale_by_zoom_linesearch(5, initial_guess_strategy="two"),
     "initial_guess_strategy"),
    (lambda: gradtx.scale_by_zoom_linesearch(0), "max_linesearch_steps"),
    (lambda: gradtx.scale_by_backtracking_linesearch(5, decrease_factor=1.5), "decrease_factor"),
    (lambda: gradtx.scale_by_polyak(variant="spss"), "variant"),
])
def test_construction_errors_name_the_argument(build, match):
  with pytest.raises(ValueError, match=match):
    build()


def test_value_and_grad_from_state_errors_and_reuse():
  vg = gradtx.value_and_grad_from_state(rosenbrock)
  x = jnp.ones(3) * 0.5
  with pytest.raises(ValueError, match="value"):
    vg(x, state=gradtx.adam(1e-3).init(x))
  two = gradtx.chain(gradtx.scale_by_zoom_linesearch(5), gradtx.scale_by_zoom_linesearch(5))
  with pytest.raises(KeyError):
    vg(x, state=two.init(x))
  opt = gradtx.lbfgs()
  state = opt.init(x)
  value, grad = jax.jit(vg)(x, state=state)  # inf in the initial state: evaluated
  np.testing.assert_allclose(value, rosenbrock(x), rtol=1e-14)
  updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=rosenbrock)
  x = gradtx.apply_updates(x, updates)
  stored, _ = jax.jit(gradtx.value_and_grad_from_state(lambda p: 0.0 * jnp.sum(p)))(
      x, state=state)
  np.testing.assert_allclose(stored, rosenbrock(x), rtol=1e-12)  # reused, not re-evaluated


# -- non-finite objectives ------------------------------------------------------------


def nan_outside(x):
  """Finite only for x > 0 (log barrier): trial steps past 0 give NaN."""
  return jnp.sum(jnp.where(x > 0, x - jnp.log(jnp.where(x > 0, x, 1.0)), jnp.nan))


LINE_SEARCHES = [lambda: gradtx.scale_by_zoom_linesearch(20),
                 lambda: gradtx.scale_by_backtracking_linesearch(20, store_grad=True)]


@pytest.mark.parametrize("make", LINE_SEARCHES)
def test_line_search_backs_off_from_nan_region(make):
  x = jnp.asarray([3.0, 0.2])
  value, grad = jax.value_and_grad(nan_outside)(x)
  ls = make()
  updates, state = ls.update(-5.0 * grad, ls.init(x), x, value=value, grad=grad,
                             value_fn=nan_outside)
  new = gradtx.apply_updates(x, updates)
  assert np.all(np.isfinite(new)) and nan_outside(new) < value
  assert 0 < float(state.learning_rate) < 1


@pytest.mark.parametrize("make", LINE_SEARCHES)
@pytest.mark.parametrize("poison", ["value", "grad", "direction"])
def test_non_finite_input_gives_a_zero_step(make, poison):
  x = jnp.asarray([1.0, 2.0])
  value, grad = jax.value_and_grad(rosenbrock)(x)
  direction = -grad
  if poison == "value":
    value = jnp.nan
  elif poison == "grad":
    grad = grad.at[0].set(jnp.inf)
  else:
    direction = direction.at[1].set(jnp.nan)
  ls = make()
  updates, state = jax.jit(lambda u, s: ls.update(u, s, x, value=value, grad=grad,
                                                  value_fn=rosenbrock))(direction, ls.init(x))
  np.testing.assert_array_equal(updates, np.zeros(2))
  assert float(state.learning_rate) == 0.0


def test_lbfgs_loop_stays_finite_when_the_objective_turns_nan():
  """A NaN gradient at some point: the step is rejected (zero), no NaN reaches the
  params or the L-BFGS memory, and the next finite step proceeds."""
  def fun(x):
    return jnp.sum(x ** 2) + jnp.where(jnp.sum(x) < 0.5, jnp.nan, 0.0)

  opt, x = gradtx.lbfgs(), jnp.asarray([2.0, 1.0])
  state = opt.init(x)

  @jax.jit
  def step(x, state):
    value, grad = jax.value_and_grad(fun)(x)
    updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=fun)
    return gradtx.apply_updates(x, updates), state

  for _ in range(6):
    x, state = step(x, state)
    assert np.all(np.isfinite(x))
    assert np.all(np.isfinite(state[0].diff_params_memory))
    assert np.all(np.isfinite(state[0].diff_updates_memory))
  assert float(jnp.sum(x)) >= 0.5 and float(fun(x)) < 5.0
