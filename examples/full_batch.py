"""Full-batch training: gradient descent, momentum and L-BFGS on the whole data set.

Multinomial logistic regression with an L2 penalty on scikit-learn's bundled digits
(1437 training images of 64 pixels, 10 classes, no download): the objective
`mean cross-entropy + (l2 / 2) |W|^2` is smooth and strongly convex, the setting where
full-batch methods shine. Three optimizers with the same jitted loop:

    gradtx.sgd(lr)                 plain gradient descent, one evaluation per step
    gradtx.sgd(lr, momentum=0.9)   heavy ball, one evaluation per step
    gradtx.lbfgs()                 L-BFGS with its zoom line search (no learning rate);
                                   `value_and_grad_from_state` reuses the line search's
                                   last evaluation, so a step costs its trials only

Prints the final loss and test accuracy of each, and writes one PNG with the loss gap
`f - f*` against iterations and against evaluations of the objective (value and
gradient). Runs in well under a minute on two CPU cores (about 20 s on a loaded machine).

    python examples/full_batch.py [--steps 200] [--quick] [--out out/full_batch.png]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

import gradtx
from _digits import load_data
from _plot import pyplot, save_figure

L2 = 1e-3


def init_params(n_features: int, n_classes: int):
  return {"w": jnp.zeros((n_features, n_classes)), "b": jnp.zeros(n_classes)}


def loss_fn(params, x, y):
  """Mean softmax cross-entropy plus `(L2 / 2) |W|^2` (the bias is not penalised)."""
  logp = jax.nn.log_softmax(x @ params["w"] + params["b"])
  nll = -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))
  return nll + 0.5 * L2 * jnp.sum(params["w"] ** 2)


def accuracy(params, x, y) -> float:
  return float(jnp.mean(jnp.argmax(x @ params["w"] + params["b"], -1) == y))


def run(name: str, opt, x, y, steps: int):
  """`steps` full-batch steps; returns final params, losses and cumulative evaluations."""
  line_search = name == "L-BFGS"
  value_and_grad = (gradtx.value_and_grad_from_state(loss_fn) if line_search
                    else lambda p, x, y, state: jax.value_and_grad(loss_fn)(p, x, y))

  @jax.jit
  def step(params, state):
    value, grad = value_and_grad(params, x, y, state=state)
    if line_search:  # the objective and the data go to the line search as extra args
      updates, state = opt.update(grad, state, params, value=value, grad=grad,
                                  value_fn=loss_fn, x=x, y=y)
      evals = state[-1].info.num_linesearch_steps
    else:
      updates, state = opt.update(grad, state, params)
      evals = jnp.ones([], jnp.int32)
    return gradtx.apply_updates(params, updates), state, value, evals

  params = init_params(x.shape[1], 10)
  state = opt.init(params)
  losses, evals, total = [], [], 1 if line_search else 0
  for _ in tqdm(range(steps), desc=f"{name:>8}", leave=False):
    params, state, value, n = step(params, state)
    losses.append(float(value))  # the loss at the params this step started from
    evals.append(total)
    total += int(n)
  losses.append(float(loss_fn(params, x, y)))
  evals.append(total)
  return params, np.array(losses), np.array(evals)


def plot(results: dict, f_star: float, path: str) -> None:
  plt = pyplot()
  fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
  floor = 1e-7  # float32 resolution of a loss of order 0.3: smaller gaps are rounding
  for name, (_, losses, evals) in results.items():
    gap = np.maximum(losses - f_star, floor)
    left.semilogy(np.arange(len(losses)), gap, label=name)
    right.semilogy(evals, gap, label=name)
  for ax in (left, right):
    ax.axhline(floor, color="gray", linestyle=":", label="float32 floor\n(gap clipped)")
  left.set_xlabel("iteration")
  right.set_xlabel("evaluations of the objective (value and gradient)")
  left.set_ylabel("training loss - best loss found")
  for ax in (left, right):
    ax.grid(True, which="both", alpha=0.3)
  right.legend(loc="center left", bbox_to_anchor=(1.02, 0.5))  # outside: no curve hidden
  fig.suptitle("Full-batch softmax regression on digits (L2 = 1e-3)")
  save_figure(fig, path)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=200, help="iterations per optimizer")
  parser.add_argument("--quick", action="store_true", help="30 iterations (CI smoke run)")
  parser.add_argument("--lr", type=float, default=0.5, help="learning rate of GD / momentum")
  parser.add_argument("--out", default="out/full_batch.png")
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  steps = 30 if args.quick else args.steps

  x_train, x_test, y_train, y_test = load_data(args.seed)
  x, y = jnp.asarray(x_train), jnp.asarray(y_train)
  optimizers = {"GD": gradtx.sgd(args.lr), "momentum": gradtx.sgd(args.lr, momentum=0.9),
                "L-BFGS": gradtx.lbfgs()}
  start = time.perf_counter()
  results = {name: run(name, opt, x, y, steps) for name, opt in optimizers.items()}
  f_star = min(r[1].min() for r in results.values())
  for name, (params, losses, evals) in results.items():
    print(f"{name:>8}: loss {losses[-1]:.6f} after {steps} iterations / {evals[-1]} "
          f"evaluations, test accuracy {accuracy(params, x_test, y_test):.3f}")
  plot(results, f_star, args.out)
  print(f"wrote {args.out} ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
  main()
