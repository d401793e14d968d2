"""Flax + gradtx: an MLP on scikit-learn's digits, with `nnx.Optimizer` or linen's `TrainState`.

A gradtx optimizer is an Optax-protocol `GradientTransformation`, so it goes
where Flax expects `tx`:

    nnx:    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
            optimizer.update(model, grads)             # inside nnx.jit
    linen:  state = TrainState.create(apply_fn=model.apply, params=params, tx=tx)
            state = state.apply_gradients(grads=grads) # inside jax.jit

`tx` here is clip-by-global-norm + AdamW with a warmup-cosine schedule. The
script prints the test accuracy and writes a PNG of the loss and accuracy
curves. Runs in well under a minute on two CPU cores.

    python examples/flax_digits.py [--api nnx|linen] [--epochs 25] [--out out/flax_digits.png]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from flax import nnx
from flax.training import train_state
from tqdm import tqdm

import gradtx
from _digits import batches, load_data
from _plot import save_figure


# --- data -----------------------------------------------------------------------------

def cross_entropy(logits, y):
  return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


def make_optimizer(peak_lr: float, total_steps: int, warmup_steps: int, weight_decay: float):
  schedule = gradtx.warmup_cosine_decay_schedule(0.0, peak_lr, warmup_steps, total_steps,
                                                 end_value=peak_lr * 0.01)
  return gradtx.chain(gradtx.clip_by_global_norm(1.0),
                      gradtx.adamw(schedule, weight_decay=weight_decay))


# --- Flax NNX ---------------------------------------------------------------------------

class NnxMLP(nnx.Module):

  def __init__(self, rngs: nnx.Rngs):
    self.l1 = nnx.Linear(64, 128, rngs=rngs)
    self.l2 = nnx.Linear(128, 64, rngs=rngs)
    self.l3 = nnx.Linear(64, 10, rngs=rngs)

  def __call__(self, x):
    return self.l3(nnx.relu(self.l2(nnx.relu(self.l1(x)))))


@nnx.jit
def nnx_train_step(model, optimizer, x, y):
  loss, grads = nnx.value_and_grad(lambda m: cross_entropy(m(x), y))(model)
  optimizer.update(model, grads)  # tx.update + apply_updates on the nnx.Param leaves
  return loss


@nnx.jit
def nnx_evaluate(model, x, y):
  logits = model(x)
  return cross_entropy(logits, y), jnp.mean(jnp.argmax(logits, -1) == y)


class NnxTrainer:

  def __init__(self, tx, seed):
    self.model = NnxMLP(nnx.Rngs(seed))
    self.optimizer = nnx.Optimizer(self.model, tx, wrt=nnx.Param)

  def step(self, x, y):
    return nnx_train_step(self.model, self.optimizer, x, y)

  def evaluate(self, x, y):
    return nnx_evaluate(self.model, x, y)

  def n_params(self):
    return sum(p.size for p in jax.tree.leaves(nnx.state(self.model, nnx.Param)))


# --- Flax linen + TrainState -------------------------------------------------------------

class LinenMLP(nn.Module):

  @nn.compact
  def __call__(self, x):
    x = nn.relu(nn.Dense(128)(x))
    x = nn.relu(nn.Dense(64)(x))
    return nn.Dense(10)(x)


@jax.jit
def linen_train_step(state, x, y):
  def loss_fn(params):
    return cross_entropy(state.apply_fn({"params": params}, x), y)
  loss, grads = jax.value_and_grad(loss_fn)(state.params)
  return state.apply_gradients(grads=grads), loss  # tx.update + apply_updates


@jax.jit
def linen_evaluate(state, x, y):
  logits = state.apply_fn({"params": state.params}, x)
  return cross_entropy(logits, y), jnp.mean(jnp.argmax(logits, -1) == y)


class LinenTrainer:

  def __init__(self, tx, seed):
    model = LinenMLP()
    params = model.init(jax.random.key(seed), jnp.zeros((1, 64)))["params"]
    # TrainState.tx is a static field: gradtx optimizers hash and compare by value.
    self.state = train_state.TrainState.create(apply_fn=model.apply, params=params, tx=tx)

  def step(self, x, y):
    self.state, loss = linen_train_step(self.state, x, y)
    return loss

  def evaluate(self, x, y):
    return linen_evaluate(self.state, x, y)

  def n_params(self):
    return sum(p.size for p in jax.tree.leaves(self.state.params))


# --- main -------------------------------------------------------------------------------

def save_plot(out, api, step_losses, epoch_marks, test_losses, test_accs, steps_per_epoch):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  steps = np.arange(1, len(step_losses) + 1)
  window = max(1, steps_per_epoch // 2)
  smooth = np.convolve(step_losses, np.ones(window) / window, mode="valid")
  fig, ax = plt.subplots(figsize=(8, 4.8))
  ax.semilogy(steps, step_losses, color="#1f77b4", alpha=0.25, lw=0.8, label="train loss (batch)")
  ax.semilogy(steps[window - 1:], smooth, color="#1f77b4", lw=2, label="train loss (mean)")
  ax.semilogy(epoch_marks, test_losses, "o-", color="#d62728", ms=3, label="test loss")
  ax.set_xlabel("step")
  ax.set_ylabel("cross-entropy")
  ax.grid(True, which="both", alpha=0.3)
  acc_ax = ax.twinx()
  acc_ax.plot(epoch_marks, 100 * np.asarray(test_accs), "s--", color="#2ca02c", ms=3,
              label="test accuracy")
  acc_ax.set_ylabel("test accuracy (%)")
  acc_ax.set_ylim(min(80.0, 100 * min(test_accs)), 100)
  lines = ax.get_legend_handles_labels()
  acc_lines = acc_ax.get_legend_handles_labels()
  ax.legend(lines[0] + acc_lines[0], lines[1] + acc_lines[1], loc="upper center",
            bbox_to_anchor=(0.55, 0.88), ncol=2, fontsize=9)
  ax.set_title(f"Flax {api} MLP + gradtx (clip + AdamW, warmup-cosine) on digits: "
               f"test accuracy {100 * test_accs[-1]:.2f}%", fontsize=10)
  save_figure(fig, out)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--api", choices=["nnx", "linen"], default="nnx")
  parser.add_argument("--epochs", type=int, default=25)
  parser.add_argument("--batch-size", type=int, default=64)
  parser.add_argument("--lr", type=float, default=3e-3)
  parser.add_argument("--weight-decay", type=float, default=1e-2)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", default=None, help="PNG (default out/flax_<api>_digits.png)")
  args = parser.parse_args()
  out = args.out or f"out/flax_{args.api}_digits.png"

  t0 = time.perf_counter()
  x_train, x_test, y_train, y_test = load_data(args.seed)
  steps_per_epoch = len(x_train) // args.batch_size
  total = args.epochs * steps_per_epoch
  tx = make_optimizer(args.lr, total, 2 * steps_per_epoch, args.weight_decay)
  trainer = (NnxTrainer if args.api == "nnx" else LinenTrainer)(tx, args.seed)
  print(f"flax {args.api}: MLP 64-128-64-10 ({trainer.n_params()} parameters), "
        f"{len(x_train)} train / {len(x_test)} test digits, {args.epochs} epochs")

  rng = np.random.default_rng(args.seed)
  step_losses, epoch_marks, test_losses, test_accs = [], [], [], []
  with tqdm(total=total, unit="step", dynamic_ncols=True, desc=f"flax {args.api}") as bar:
    for _ in range(args.epochs):
      for xb, yb in batches(x_train, y_train, args.batch_size, rng):
        step_losses.append(float(trainer.step(xb, yb)))
        bar.update(1)
      test_loss, test_acc = trainer.evaluate(x_test, y_test)
      epoch_marks.append(len(step_losses))
      test_losses.append(float(test_loss))
      test_accs.append(float(test_acc))
      bar.set_postfix(loss=f"{step_losses[-1]:.3f}", test_acc=f"{100 * test_accs[-1]:.1f}%")

  save_plot(out, args.api, step_losses, epoch_marks, test_losses, test_accs, steps_per_epoch)
  print(f"test accuracy: {100 * test_accs[-1]:.2f}%  (test loss {test_losses[-1]:.4f}); "
        f"{time.perf_counter() - t0:.1f}s; plot: {out}")


if __name__ == "__main__":
  main()
