"""A tour of the classic optimizers on the sources' single sigmoid neuron.

The toy problem of the tutorials gradtx started from: one neuron
`f(x) = 1 / (1 + exp(-(w x + b)))`, squared error
`L(w, b) = sum_i 0.5 (f(x_i) - y_i)^2` over the two points x = [0.5, 2.5],
y = [0.2, 0.9], started at w = b = -2 and trained full-batch for 1000 epochs
(one update per epoch). The start sits on a plateau of the error surface:

* plain gradient descent crawls across the plateau (about 80 epochs), then
  runs down the valley;
* momentum (0.9) builds up speed, overshoots the minimum and loops back;
* Nesterov (NAG) looks ahead and overshoots less;
* AdaGrad's effective learning rate `lr / sqrt(G)` only ever shrinks (the
  table prints it); starting from `G_0 = 0` its first steps are `lr` long
  whatever the gradient, so on this small problem, whose gradients stay below
  0.1, it is down the valley before the steps die out;
* RMSProp and Adam normalise the gradient by its running RMS and leave the
  plateau within a few dozen epochs even at lr 0.1; with a constant learning
  rate RMSProp ends in a small cycle around the minimum, Adam settles.

Every run is one `jax.lax.scan` over the epochs inside `jax.jit`, so the whole
tour runs in seconds on a CPU. It prints the loss after 10, 100 and 1000
epochs and writes one PNG: the error-surface contours with every optimizer's
path (left) and the loss per epoch (right).

    python examples/seed_tour.py [--out out/seed_tour.png] [--epochs 1000]
"""

from __future__ import annotations

import argparse
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

import gradtx
from _plot import pyplot, save_figure

X = jnp.array([0.5, 2.5])
Y = jnp.array([0.2, 0.9])
START = {"w": jnp.array(-2.0), "b": jnp.array(-2.0)}
LR = 1.0
ADAPTIVE_LR = 0.1
REPORT_EPOCHS = (10, 100, 1000)


def loss_fn(params, x=X, y=Y):
  """`sum_i 0.5 (f(x_i) - y_i)^2` with `f(x) = sigmoid(w x + b)`."""
  f = jax.nn.sigmoid(params["w"] * x + params["b"])
  return 0.5 * jnp.sum((f - y) ** 2)


def optimizers(lr: float = LR, adaptive_lr: float = ADAPTIVE_LR):
  """(label, learning rate, transformation, note) for each optimizer of the tour.

  GD, momentum, NAG and AdaGrad use the sources' learning rate 1.0. RMSProp
  and Adam divide the gradient by its running RMS, so each of their steps is
  about `lr` long whatever the gradient's size: at lr = 1.0 RMSProp keeps
  jumping across the narrow valley and never settles, and Adam overshoots far
  along it, so they use `adaptive_lr` (0.1; `--adaptive-lr 1.0` shows lr 1.0).
  AdaGrad and RMSProp are built in the sources' form: AdaGrad's accumulator
  starts at 0 (Optax starts it at 0.1) and RMSProp adds eps outside the root,
  `g / (sqrt(S) + eps)`.
  """
  alr = adaptive_lr
  return [
      ("GD", lr, gradtx.sgd(lr), ""),
      ("Momentum (0.9)", lr, gradtx.sgd(lr, momentum=0.9), ""),
      ("NAG (0.9)", lr, gradtx.sgd(lr, momentum=0.9, nesterov=True), ""),
      ("AdaGrad", lr, gradtx.adagrad(lr, initial_accumulator_value=0.0, eps=1e-8),
       "G_0 = 0 (sources' form)"),
      ("RMSProp (0.9)", alr, gradtx.rmsprop(alr, decay=0.9, eps=1e-8, eps_in_sqrt=False),
       "eps outside the root (sources' form)" + _lr_note(alr, lr)),
      ("Adam", alr, gradtx.adam(alr), "b1=0.9, b2=0.999, eps=1e-8" + _lr_note(alr, lr)),
  ]


def _lr_note(alr: float, lr: float) -> str:
  return f"; lr {alr:g}, not {lr:g} (see below)" if alr != lr else ""


def _adagrad_step_note(state, lr: float) -> str:
  """AdaGrad's effective step `lr / sqrt(G)` per parameter, first and last epoch."""
  rss = [s for s in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, gradtx.ScaleByRssState))
         if isinstance(s, gradtx.ScaleByRssState)]
  if not rss:
    return ""
  g1 = jax.grad(loss_fn)(START)  # G_1 = g_1^2 (G_0 = 0)
  first = {k: lr / abs(float(g1[k])) for k in ("w", "b")}
  last = {k: lr / np.sqrt(float(rss[0].sum_of_squares[k])) for k in ("w", "b")}
  return (f"; lr/sqrt(G) fell from w {first['w']:.0f}, b {first['b']:.0f} "
          f"to w {last['w']:.1f}, b {last['b']:.1f}")


@functools.partial(jax.jit, static_argnames="epochs")
def _run(tx, params, epochs: int):
  """`epochs` full-batch updates in one `lax.scan`; the optimizer `tx` is a pytree
  argument, so its learning rate and betas are traced values, not constants."""
  def step(carry, _):
    params, state = carry
    grads = jax.grad(loss_fn)(params)
    updates, state = tx.update(grads, state, params)
    params = gradtx.apply_updates(params, updates)
    return (params, state), (params, loss_fn(params))

  (_, state), (path, losses) = jax.lax.scan(step, (params, tx.init(params)), None,
                                            length=epochs)
  return path, losses, state


def train(tx: gradtx.GradientTransformation, params, epochs: int):
  """The params and loss after 0, 1, ..., `epochs` epochs, and the final optimizer state."""
  path, losses, final_state = _run(tx, params, epochs=epochs)
  path = {k: np.concatenate([[float(params[k])], np.asarray(v)]) for k, v in path.items()}
  losses = np.concatenate([[float(loss_fn(params))], np.asarray(losses)])
  return path, losses, final_state


def surface(w_range, b_range, n: int = 300):
  """The loss on a grid over (w, b), evaluated with one vmapped call."""
  ws = np.linspace(*w_range, n)
  bs = np.linspace(*b_range, n)
  W, B = np.meshgrid(ws, bs)
  grid_loss = jax.jit(jax.vmap(lambda w, b: loss_fn({"w": w, "b": b})))
  Z = np.asarray(grid_loss(jnp.asarray(W.ravel()), jnp.asarray(B.ravel()))).reshape(W.shape)
  return W, B, Z


def plot_range(paths, pad: float = 0.6, min_half_width: float = 3.0):
  """An axis box holding every path (and the start), padded, not too narrow."""
  ws = np.concatenate([p["w"] for p in paths])
  bs = np.concatenate([p["b"] for p in paths])

  def box(v):
    lo, hi = float(np.min(v)) - pad, float(np.max(v)) + pad
    mid, half = (lo + hi) / 2, max((hi - lo) / 2, min_half_width)
    return mid - half, mid + half

  return box(ws), box(bs)


def plot(results, out: str, epochs: int):
  plt = pyplot()

  paths = [r["path"] for r in results]
  w_range, b_range = plot_range(paths)
  W, B, Z = surface(w_range, b_range)
  colors = ["#000000", "#d62728", "#ff7f0e", "#2ca02c", "#1f77b4", "#9467bd"]

  fig, (ax, ax_loss) = plt.subplots(1, 2, figsize=(15, 6.5),
                                    gridspec_kw={"width_ratios": [1.25, 1]})
  levels = np.linspace(0.0, float(Z.max()), 25)
  cf = ax.contourf(W, B, Z, levels=levels, cmap="Greys", alpha=0.55)
  ax.contour(W, B, Z, levels=levels, colors="grey", linewidths=0.4, alpha=0.8)
  fig.colorbar(cf, ax=ax, label="loss  sum 0.5 (f(x) - y)^2", shrink=0.85)

  for r, color in zip(results, colors):
    p = r["path"]
    label = f"{r['label']}, lr {r['lr']:g}"
    ax.plot(p["w"], p["b"], "-", color=color, lw=1.6, alpha=0.9, label=label)
    ax.plot(p["w"], p["b"], ".", color=color, ms=2.5, alpha=0.6)
    ax.plot(p["w"][-1], p["b"][-1], "o", color=color, ms=6, mec="white", mew=1.0, zorder=7)
    ax_loss.semilogy(np.arange(epochs + 1), np.maximum(r["losses"], 1e-16), color=color,
                     lw=1.6, label=label)

  ax.plot(float(START["w"]), float(START["b"]), "s", color="k", ms=10, mfc="yellow",
          zorder=6, label="start (-2, -2)")
  w_star = (np.log(0.9 / 0.1) - np.log(0.2 / 0.8)) / 2.0
  b_star = np.log(0.2 / 0.8) - 0.5 * w_star
  ax.plot(w_star, b_star, "*", color="gold", mec="k", ms=22, zorder=6,
          label=f"minimum ({w_star:.2f}, {b_star:.2f})")
  ax.plot([], [], "o", color="grey", mec="white", ms=6, label=f"end (epoch {epochs})")
  ax.set_xlim(*w_range)
  ax.set_ylim(*b_range)
  ax.set_xlabel("w")
  ax.set_ylabel("b")
  ax.set_title(f"Sigmoid neuron: optimizer paths over {epochs} epochs on the error surface")
  ax.legend(loc="lower left", fontsize=8.5, framealpha=0.9)

  ax_loss.set_xscale("symlog", linthresh=10)
  ax_loss.set_xlim(0, epochs)
  ax_loss.set_ylim(1e-16, 1.0)
  ax_loss.set_xlabel("epoch")
  ax_loss.set_ylabel("loss")
  ax_loss.set_title("Loss per epoch")
  ax_loss.grid(True, which="both", alpha=0.3)
  ax_loss.legend(fontsize=8.5)

  save_figure(fig, out)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--out", default="out/seed_tour.png", help="PNG to write")
  parser.add_argument("--epochs", type=int, default=1000)
  parser.add_argument("--lr", type=float, default=LR,
                      help="learning rate of GD, momentum, NAG and AdaGrad (sources: 1.0)")
  parser.add_argument("--adaptive-lr", type=float, default=ADAPTIVE_LR,
                      help="learning rate of RMSProp and Adam (default 0.1, see the docstring)")
  args = parser.parse_args()

  t0 = time.perf_counter()
  results = []
  for label, lr, tx, note in optimizers(args.lr, args.adaptive_lr):
    path, losses, state = train(tx, START, args.epochs)
    note += _adagrad_step_note(state, lr)
    results.append({"label": label, "lr": lr, "note": note, "path": path, "losses": losses})
  t_train = time.perf_counter() - t0

  epochs_shown = [e for e in REPORT_EPOCHS if e <= args.epochs]
  header = f"{'optimizer':<16}{'lr':>5}" + "".join(f"{'epoch ' + str(e):>13}" for e in epochs_shown)
  header += f"{'final (w, b)':>20}   notes"
  print(f"Sigmoid neuron, x = [0.5, 2.5], y = [0.2, 0.9], start w = b = -2, "
        f"loss at start {results[0]['losses'][0]:.4f}")
  print(header)
  print("-" * len(header))
  for r in results:
    row = f"{r['label']:<16}{r['lr']:>5g}" + "".join(f"{r['losses'][e]:>13.3e}" for e in epochs_shown)
    row += f"{'(%.2f, %.2f)' % (r['path']['w'][-1], r['path']['b'][-1]):>20}   {r['note']}"
    print(row)

  if args.adaptive_lr != args.lr:
    print(f"\nRMSProp and Adam run at lr {args.adaptive_lr:g}, not the sources' {args.lr:g}: they "
          "divide the gradient by its running RMS, so each step is about lr long whatever the\n"
          "gradient; at lr 1.0 RMSProp keeps jumping across the valley (loss 1e-4 .. 0.4 to the "
          "end) and Adam overshoots to w = 5.6. Run with --adaptive-lr 1.0 to see it.")

  plot(results, args.out, args.epochs)
  print(f"\ntrained {len(results)} optimizers x {args.epochs} epochs in {t_train:.2f}s "
        f"(jit + lax.scan); wrote {args.out} ({time.perf_counter() - t0:.1f}s total)")


if __name__ == "__main__":
  main()
