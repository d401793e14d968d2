"""Goal: on 10-D Rosenbrock (float64, start at 0) gradtx.lbfgs reaches |x - 1| < 1e-6 in no
more iterations than scipy's L-BFGS-B, counted side by side (iterations and evaluations of
the objective with its gradient)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import gradtx

pytestmark = pytest.mark.usefixtures("x64")

TARGET = 1e-6


def rosenbrock(x):
  return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def scipy_counts(x0):
  """(iterations, evaluations) until scipy's iterate is within TARGET of the minimizer."""
  value_and_grad = jax.jit(jax.value_and_grad(rosenbrock))
  evals, iters, reached = [0], [0], []

  def fun(x):
    evals[0] += 1
    value, grad = value_and_grad(x)
    return float(value), np.asarray(grad)

  def callback(xk):  # called once per iteration
    iters[0] += 1
    if not reached and np.max(np.abs(xk - 1)) < TARGET:
      reached.append((iters[0], evals[0]))
      raise StopIteration

  scipy.optimize.minimize(fun, x0, jac=True, method="L-BFGS-B", callback=callback,
                          options=dict(maxiter=500, ftol=0.0, gtol=0.0))
  assert reached, "scipy did not reach the target"
  return reached[0]


def gradtx_counts(x0, max_steps=500):
  """(iterations, evaluations): one evaluation at the start, then each line-search trial."""
  opt = gradtx.lbfgs()
  value_and_grad = gradtx.value_and_grad_from_state(rosenbrock)

  @jax.jit
  def step(x, state):
    value, grad = value_and_grad(x, state=state)
    updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=rosenbrock)
    return gradtx.apply_updates(x, updates), state

  x, state, evals = jnp.asarray(x0), opt.init(jnp.asarray(x0)), 1
  for k in range(1, max_steps + 1):
    x, state = step(x, state)
    evals += int(state[-1].info.num_linesearch_steps)
    if np.max(np.abs(np.asarray(x) - 1)) < TARGET:
      return k, evals
  raise AssertionError("gradtx.lbfgs did not reach the target")


def test_lbfgs_needs_no_more_iterations_than_scipy_on_rosenbrock_10d():
  x0 = np.zeros(10)
  sp_iters, sp_evals = scipy_counts(x0)
  gt_iters, gt_evals = gradtx_counts(x0)
  print(f"10-D Rosenbrock from 0: gradtx {gt_iters} iterations / {gt_evals} evaluations, "
        f"scipy L-BFGS-B {sp_iters} / {sp_evals}")
  assert gt_iters <= sp_iters
  assert gt_evals <= 1.5 * sp_evals  # evaluations are reported, not the goal; a sanity bound
