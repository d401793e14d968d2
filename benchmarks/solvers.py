"""Solvers: L-BFGS on 10-D Rosenbrock (float64, start at 0), gradtx vs Optax vs scipy.

    python -m benchmarks.solvers [--repeats 5] [--markdown]

Counts iterations and objective evaluations (value and gradient together) until
|x - 1|_inf < 1e-6, and times one jitted L-BFGS step (the line search included) and its
compile, gradtx against Optax in one process, interleaved; prints a Markdown section.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy
import scipy.optimize

import gradtx

DIM, TARGET, MAX_STEPS = 10, 1e-6, 500


def rosenbrock(x):
  return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def make_step(lib):
  """A fresh jitted `step(x, state) -> (x, state)` of `lib.lbfgs()` (Optax's loop)."""
  opt = lib.lbfgs()
  value_and_grad = lib.value_and_grad_from_state(rosenbrock)

  def step(x, state):
    value, grad = value_and_grad(x, state=state)
    updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=rosenbrock)
    return lib.apply_updates(x, updates), state
  return opt, jax.jit(step)


def counts(lib):
  """(iterations, evaluations) to the target; one evaluation at the start, then one per
  line-search trial. Run in float64 (`jax_enable_x64`; `tests/test_solvers_scipy.py`
  uses this too)."""
  opt, step = make_step(lib)
  x = jnp.zeros(DIM)
  state, evals = opt.init(x), 1
  for k in range(1, MAX_STEPS + 1):
    x, state = step(x, state)
    evals += int(state[-1].info.num_linesearch_steps)
    if np.max(np.abs(np.asarray(x) - 1)) < TARGET:
      return k, evals
  return None, evals


def scipy_counts():
  """(iterations, evaluations) of scipy's L-BFGS-B to the same target (one callback per
  iteration; scipy's own stopping tests are switched off)."""
  value_and_grad = jax.jit(jax.value_and_grad(rosenbrock))
  evals, iters, reached = [0], [0], []

  def fun(x):
    evals[0] += 1
    value, grad = value_and_grad(x)
    return float(value), np.asarray(grad)

  def callback(xk):
    iters[0] += 1
    if np.max(np.abs(xk - 1)) < TARGET:
      reached.append((iters[0], evals[0]))
      raise StopIteration

  scipy.optimize.minimize(fun, np.zeros(DIM), jac=True, method="L-BFGS-B", callback=callback,
                          options=dict(maxiter=MAX_STEPS, ftol=0.0, gtol=0.0))
  return reached[0] if reached else (None, evals[0])


def compile_seconds(lib):
  opt, step = make_step(lib)
  x = jnp.zeros(DIM)
  start = time.perf_counter()
  step.lower(x, opt.init(x)).compile()
  return time.perf_counter() - start


def step_seconds(lib, inner=50):
  """Seconds per step, averaged over `inner` steps after 3 warm-up steps from 0 (the same
  iterates for both libraries: they agree to rounding). The warm-up also absorbs Optax's
  retrace on the second step (its initial state holds weakly typed scalars)."""
  opt, step = make_step(lib)
  x = jnp.zeros(DIM)
  state = opt.init(x)
  for _ in range(3):
    x, state = step(x, state)
  jax.block_until_ready(x)
  start = time.perf_counter()
  for _ in range(inner):
    x, state = step(x, state)
  jax.block_until_ready(x)
  return (time.perf_counter() - start) / inner


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=5, help="interleaved timing rounds")
  parser.add_argument("--markdown", action="store_true", help="print the Markdown section")
  args = parser.parse_args()
  jax.config.update("jax_enable_x64", True)

  rows = {"gradtx.lbfgs()": counts(gradtx), "optax.lbfgs()": counts(optax),
          "scipy L-BFGS-B": scipy_counts()}
  steps = {"gradtx": [], "optax": []}
  compiles = {"gradtx": [], "optax": []}
  for _ in range(args.repeats):  # interleaved, best of the rounds
    for name, lib in (("gradtx", gradtx), ("optax", optax)):
      compiles[name].append(compile_seconds(lib))
      steps[name].append(step_seconds(lib))
  best = {k: min(v) for k, v in steps.items()}
  best_compile = {k: min(v) for k, v in compiles.items()}

  lines = [
      "## Solvers: L-BFGS", "",
      f"`python -m benchmarks.solvers --repeats {args.repeats} --markdown` "
      f"({platform.processor() or platform.machine()}, {jax.device_count()} CPU device, "
      f"jax {jax.__version__}, optax {optax.__version__}, scipy {scipy.__version__}). "
      f"{DIM}-D Rosenbrock, float64, start at 0, stop at |x - 1|_inf < {TARGET:g}; "
      "memory 10 everywhere (scipy's default m = 10). An evaluation is one value and "
      "gradient; gradtx and Optax count the first one and every line-search trial.", "",
      "| solver | iterations | evaluations |", "|---|---:|---:|",
  ]
  for name, (iters, evals) in rows.items():
    lines.append(f"| {name} | {iters if iters is not None else 'not reached'} | {evals} |")
  lines += [
      "", "| jitted step (line search included) | gradtx | Optax | gradtx / Optax |",
      "|---|---:|---:|---:|",
      f"| step time (us, best of {args.repeats}) | {best['gradtx'] * 1e6:.0f} | "
      f"{best['optax'] * 1e6:.0f} | {best['gradtx'] / best['optax']:.2f}x |",
      f"| compile time (s, best of {args.repeats}) | {best_compile['gradtx']:.2f} | "
      f"{best_compile['optax']:.2f} | {best_compile['gradtx'] / best_compile['optax']:.2f}x |",
      "", f"- median step ratio over the rounds: "
      f"{statistics.median(a / b for a, b in zip(steps['gradtx'], steps['optax'])):.2f}x",
  ]
  text = "\n".join(lines)
  print(text if args.markdown else text.replace("|", " "))


if __name__ == "__main__":
  main()
