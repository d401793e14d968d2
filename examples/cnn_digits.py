"""A small CNN on scikit-learn's 8x8 digits: gradtx SGD, momentum, Adam and AdamW compared.

Pure JAX (`lax.conv_general_dilated`): conv 3x3x16 -> ReLU -> conv 3x3x32 -> ReLU
-> 2x2 average pool -> dense 64 -> ReLU -> dense 10. Every optimizer starts
from the same initial weights and sees the same mini-batches, so the curves
differ only by the update rule:

    sgd       gradtx.sgd(0.1)
    momentum  gradtx.sgd(0.05, momentum=0.9, nesterov=True)
    adam      gradtx.adam(2e-3)
    adamw     gradtx.adamw(cosine(2e-3), weight_decay=0.05, mask=<weights only>)

The script prints each optimizer's final test accuracy and writes one PNG with
the training-loss and test-accuracy curves. About a minute on two CPU cores.

    python examples/cnn_digits.py [--epochs 20] [--out out/cnn_digits.png]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

import gradtx
from _digits import load_data as _load_data
from _plot import save_figure



def load_data(seed: int):
  """8x8x1 images scaled to [0, 1], split 80/20 (stratified)."""
  return _load_data(seed, images=True)

# --- model ------------------------------------------------------------------------------

def init_cnn(key):
  k1, k2, k3, k4 = jax.random.split(key, 4)

  def he(k, shape, fan_in):
    return jax.random.normal(k, shape) * jnp.sqrt(2.0 / fan_in)

  return {
      "conv1": {"w": he(k1, (3, 3, 1, 16), 9), "b": jnp.zeros(16)},
      "conv2": {"w": he(k2, (3, 3, 16, 32), 9 * 16), "b": jnp.zeros(32)},
      "dense1": {"w": he(k3, (4 * 4 * 32, 64), 4 * 4 * 32), "b": jnp.zeros(64)},
      "dense2": {"w": he(k4, (64, 10), 64), "b": jnp.zeros(10)},
  }


def conv(x, layer):
  y = jax.lax.conv_general_dilated(x, layer["w"], window_strides=(1, 1), padding="SAME",
                                   dimension_numbers=("NHWC", "HWIO", "NHWC"))
  return y + layer["b"]


def cnn(params, x):
  x = jax.nn.relu(conv(x, params["conv1"]))                  # (N, 8, 8, 16)
  x = jax.nn.relu(conv(x, params["conv2"]))                  # (N, 8, 8, 32)
  n = x.shape[0]
  x = x.reshape(n, 4, 2, 4, 2, 32).mean(axis=(2, 4))         # 2x2 average pool
  x = jax.nn.relu(x.reshape(n, -1) @ params["dense1"]["w"] + params["dense1"]["b"])
  return x @ params["dense2"]["w"] + params["dense2"]["b"]


def loss_fn(params, x, y):
  logits = cnn(params, x)
  return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


@jax.jit
def train_step(tx, params, opt_state, x, y):
  loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
  updates, opt_state = tx.update(grads, opt_state, params)
  return gradtx.apply_updates(params, updates), opt_state, loss


@jax.jit
def evaluate(params, x, y):
  return jnp.mean(jnp.argmax(cnn(params, x), -1) == y)


def optimizers(total_steps):
  weights_only = lambda params: jax.tree.map(lambda p: p.ndim > 1, params)  # noqa: E731
  return {
      "sgd": gradtx.sgd(0.1),
      "momentum": gradtx.sgd(0.05, momentum=0.9, nesterov=True),
      "adam": gradtx.adam(2e-3),
      "adamw": gradtx.adamw(gradtx.cosine_decay_schedule(2e-3, total_steps, alpha=0.01),
                            weight_decay=0.05, mask=weights_only),
  }


# --- main -------------------------------------------------------------------------------

def save_plot(out, results, steps_per_epoch):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  colors = {"sgd": "#7f7f7f", "momentum": "#1f77b4", "adam": "#d62728", "adamw": "#2ca02c"}
  fig, (ax, acc_ax) = plt.subplots(1, 2, figsize=(12, 4.5))
  for name, (losses, accs) in results.items():
    per_epoch = np.asarray(losses).reshape(-1, steps_per_epoch).mean(axis=1)
    epochs = np.arange(1, len(per_epoch) + 1)
    ax.semilogy(np.arange(1, len(losses) + 1) / steps_per_epoch, losses, color=colors[name],
                alpha=0.15, lw=0.7)
    ax.semilogy(epochs, per_epoch, "o-", color=colors[name], ms=3, lw=2, label=name)
    acc_ax.plot(epochs, 100 * np.asarray(accs), "o-", color=colors[name], ms=3, lw=2,
                label=f"{name}: {100 * accs[-1]:.2f}%")
  ax.set_xlabel("epoch")
  ax.set_ylabel("train cross-entropy (batch; epoch mean)")
  ax.grid(True, which="both", alpha=0.3)
  ax.legend()
  acc_ax.set_xlabel("epoch")
  acc_ax.set_ylabel("test accuracy (%)")
  lowest = min(min(a) for _, a in results.values())
  acc_ax.set_ylim(max(0.0, 100 * lowest - 2), 100)
  acc_ax.grid(True, alpha=0.3)
  acc_ax.legend(loc="lower right", title="final test accuracy")
  fig.suptitle("Small CNN on 8x8 digits: gradtx optimizers from the same init and batches",
               fontsize=11)
  save_figure(fig, out)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--epochs", type=int, default=20)
  parser.add_argument("--batch-size", type=int, default=32)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", default="out/cnn_digits.png")
  args = parser.parse_args()

  t0 = time.perf_counter()
  x_train, x_test, y_train, y_test = load_data(args.seed)
  steps_per_epoch = len(x_train) // args.batch_size
  rng = np.random.default_rng(args.seed)
  order = [rng.permutation(len(x_train))[i * args.batch_size:(i + 1) * args.batch_size]
           for _ in range(args.epochs) for i in range(steps_per_epoch)]
  init_params = init_cnn(jax.random.key(args.seed))
  n_params = sum(p.size for p in jax.tree.leaves(init_params))
  print(f"CNN ({n_params} parameters) on {len(x_train)} train / {len(x_test)} test digits; "
        f"{args.epochs} epochs x {steps_per_epoch} steps of {args.batch_size}")

  results = {}
  for name, tx in optimizers(len(order)).items():
    params, opt_state = init_params, tx.init(init_params)
    losses, accs = [], []
    with tqdm(total=len(order), desc=f"{name:8s}", unit="step", dynamic_ncols=True) as bar:
      for step, idx in enumerate(order, start=1):
        params, opt_state, loss = train_step(tx, params, opt_state, x_train[idx], y_train[idx])
        losses.append(loss)
        bar.update(1)
        if step % steps_per_epoch == 0:
          accs.append(float(evaluate(params, x_test, y_test)))
          bar.set_postfix(loss=f"{float(loss):.3f}", test_acc=f"{100 * accs[-1]:.1f}%")
    results[name] = (np.asarray(jax.device_get(losses)), accs)

  print("\nfinal test accuracy")
  for name, (losses, accs) in results.items():
    print(f"  {name:9s} {100 * accs[-1]:6.2f}%   (final-epoch train loss "
          f"{losses[-steps_per_epoch:].mean():.4f})")
  save_plot(args.out, results, steps_per_epoch)
  print(f"{time.perf_counter() - t0:.1f}s; plot: {args.out}")


if __name__ == "__main__":
  main()
