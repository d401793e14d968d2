"""Quickstart: a small MLP on scikit-learn's digits, trained with gradtx.

Pure JAX (no neural-network library): a 64-128-64-10 MLP on the 8x8 digit
images bundled with scikit-learn (1797 images, no download), mini-batches of
64, and the optimizer

    gradtx.chain(
        gradtx.clip_by_global_norm(1.0),
        gradtx.adamw(gradtx.warmup_cosine_decay_schedule(...), weight_decay=...,
                     mask=<no decay on biases>))

The learning rate each step used is read back from the optimizer state
(`hyperparams_of(opt_state)["learning_rate"]`: the learning-rate stage
records the rate it applied) and logged, with the gradient norm seen by the
clipping stage. Prints the test accuracy and writes a loss-curve PNG. Runs in well
under a minute on two CPU cores.

    python examples/quickstart.py [--epochs 30] [--out out/quickstart_loss.png]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

import gradtx
from _digits import batches, init_mlp, load_data, loss_fn, mlp
from _plot import pyplot, save_figure
from gradtx import hyperparams_of

SIZES = (64, 128, 64, 10)


# --- data ---------------------------------------------------------------------

# --- model --------------------------------------------------------------------

@jax.jit
def evaluate(params, x, y):
  logits = mlp(params, x)
  return loss_fn(params, x, y), jnp.mean(jnp.argmax(logits, -1) == y)


# --- optimizer ----------------------------------------------------------------

def make_optimizer(peak_lr: float, total_steps: int, warmup_steps: int,
                   weight_decay: float) -> gradtx.GradientTransformation:
  schedule = gradtx.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=peak_lr, warmup_steps=warmup_steps,
      decay_steps=total_steps, end_value=peak_lr * 0.01)
  return gradtx.chain(
      gradtx.clip_by_global_norm(1.0),
      # Decoupled weight decay on the weight matrices only, not on the biases.
      gradtx.adamw(schedule, weight_decay=weight_decay,
                   mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p)),
  )


def logged_hyperparams(opt_state) -> dict:
  """The learning rate and gradient norm the last step used, read from the state.

  `hyperparams_of` collects the values that transformations record in their
  states: the learning-rate stage stores the rate it applied
  (`learning_rate`), global-norm clipping the norm it saw (`grad_norm`).
  """
  hp = hyperparams_of(opt_state)
  return {"lr": float(hp["learning_rate"]), "grad_norm": float(hp["grad_norm"])}


@jax.jit
def train_step(tx, params, opt_state, x, y):
  """One update. `tx` is a pytree argument: its hyperparameters are traced."""
  loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
  updates, opt_state = tx.update(grads, opt_state, params)
  return gradtx.apply_updates(params, updates), opt_state, loss


# --- main ---------------------------------------------------------------------

def save_curve(out, step_losses, lrs, epoch_marks, test_losses, test_accs, steps_per_epoch):
  plt = pyplot()

  steps = np.arange(1, len(step_losses) + 1)
  window = max(1, steps_per_epoch // 2)
  smooth = np.convolve(step_losses, np.ones(window) / window, mode="valid")

  fig, (ax, ax_lr) = plt.subplots(2, 1, figsize=(9, 7), sharex=True,
                                  gridspec_kw={"height_ratios": [2.2, 1]})
  ax.semilogy(steps, step_losses, color="#1f77b4", alpha=0.25, lw=0.8, label="train loss (batch)")
  ax.semilogy(steps[window - 1:], smooth, color="#1f77b4", lw=2,
              label=f"train loss ({window}-step mean)")
  ax.semilogy(epoch_marks, test_losses, "o-", color="#d62728", ms=3.5, lw=1.5, label="test loss")
  ax.set_ylabel("cross-entropy")
  ax.grid(True, which="both", alpha=0.3)
  ax.set_title(f"MLP {'-'.join(map(str, SIZES))} on sklearn digits: "
               f"final test accuracy {100 * test_accs[-1]:.2f}%")
  ax.legend(loc="upper right")

  ax_lr.plot(steps, lrs, color="#2ca02c", lw=2)
  ax_lr.set_ylabel("learning rate\n(from opt state)")
  ax_lr.set_xlabel("step")
  ax_lr.grid(True, alpha=0.3)
  ax_lr.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))

  save_figure(fig, out)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--epochs", type=int, default=30)
  parser.add_argument("--batch-size", type=int, default=64)
  parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
  parser.add_argument("--warmup-epochs", type=float, default=2)
  parser.add_argument("--weight-decay", type=float, default=1e-2)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", default="out/quickstart_loss.png", help="loss-curve PNG")
  args = parser.parse_args()

  t0 = time.perf_counter()
  x_train, x_test, y_train, y_test = load_data(args.seed)
  steps_per_epoch = len(x_train) // args.batch_size
  total_steps = args.epochs * steps_per_epoch
  tx = make_optimizer(args.lr, total_steps, int(args.warmup_epochs * steps_per_epoch),
                      args.weight_decay)

  params = init_mlp(jax.random.PRNGKey(args.seed), SIZES)
  opt_state = tx.init(params)
  n_params = sum(p.size for p in jax.tree.leaves(params))
  print(f"digits: {len(x_train)} train / {len(x_test)} test images; MLP {SIZES}, "
        f"{n_params} parameters; {args.epochs} epochs x {steps_per_epoch} steps "
        f"of {args.batch_size}; jax {jax.__version__} on {jax.default_backend()}")

  rng = np.random.default_rng(args.seed)
  step_losses, lrs, grad_norms, epoch_marks, test_losses, test_accs = [], [], [], [], [], []
  with tqdm(total=total_steps, unit="step", dynamic_ncols=True) as bar:
    for epoch in range(1, args.epochs + 1):
      for xb, yb in batches(x_train, y_train, args.batch_size, rng):
        params, opt_state, loss = train_step(tx, params, opt_state, xb, yb)
        step_losses.append(float(loss))
        hp = logged_hyperparams(opt_state)
        lrs.append(hp["lr"])
        grad_norms.append(hp["grad_norm"])
        bar.update(1)
      test_loss, test_acc = evaluate(params, x_test, y_test)
      epoch_marks.append(len(step_losses))
      test_losses.append(float(test_loss))
      test_accs.append(float(test_acc))
      bar.set_postfix(loss=f"{step_losses[-1]:.3f}", lr=f"{lrs[-1]:.2e}",
                      test_acc=f"{100 * test_accs[-1]:.1f}%")
      if epoch == 1 or epoch % 5 == 0 or epoch == args.epochs:
        bar.write(f"epoch {epoch:3d}  lr {lrs[-1]:.3e}  grad norm {grad_norms[-1]:6.3f}  "
                  f"train loss {np.mean(step_losses[-steps_per_epoch:]):.4f}  "
                  f"test loss {test_losses[-1]:.4f}  test acc {100 * test_accs[-1]:.2f}%")

  elapsed = time.perf_counter() - t0
  save_curve(args.out, step_losses, lrs, epoch_marks, test_losses, test_accs, steps_per_epoch)
  acc = test_accs[-1]
  verdict = "OK (> 95%)" if acc > 0.95 else "BELOW the 95% target"
  print(f"\nTEST ACCURACY: {100 * acc:.2f}%  [{verdict}]  "
        f"({int(round(acc * len(y_test)))}/{len(y_test)} test images)")
  print(f"trained in {elapsed:.1f}s; loss curve written to {args.out}")


if __name__ == "__main__":
  main()
