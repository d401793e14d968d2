"""Porting a PyTorch training loop to JAX with `gradtx.torch_optim`, side by side.

The PyTorch loop (an MLP on scikit-learn's digits)::

    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=n)
    for x, y in batches:
        opt.zero_grad(); loss_fn(model(x), y).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step(); sched.step()

becomes, with an Equinox model holding the same initial weights::

    tx = gradtx.chain(torch_optim.clip_grad_norm(1.0),
                      lr_scheduler.OneCycleLR(torch_optim.AdamW(lr=3e-3, weight_decay=1e-2),
                                              max_lr=3e-3, total_steps=n))
    updates, opt_state = tx.update(grads, opt_state, params)

Both are trained on the same batches; the script prints the largest loss difference
and writes one PNG with both loss curves (`--out`). Under a minute on two CPU cores.

    python examples/torch_port.py [--epochs 10] [--out out/torch_port.png]
"""

from __future__ import annotations

import argparse

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import torch
from tqdm import tqdm

import gradtx
from gradtx import torch_optim
from gradtx.torch_optim import lr_scheduler
from _digits import batches, load_data
from _plot import pyplot, save_figure


def torch_model(seed: int) -> torch.nn.Module:
  torch.manual_seed(seed)
  return torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))


def equinox_model(tmodel: torch.nn.Module) -> eqx.nn.MLP:
  """An Equinox MLP with the PyTorch model's initial weights (both store `W` as (out, in))."""
  model = eqx.nn.MLP(64, 10, 64, depth=1, activation=jax.nn.relu, key=jax.random.PRNGKey(0))
  layers = [m for m in tmodel if isinstance(m, torch.nn.Linear)]
  for i, lin in enumerate(layers):
    model = eqx.tree_at(lambda m: (m.layers[i].weight, m.layers[i].bias), model,
                        (jnp.asarray(lin.weight.detach().numpy()),
                         jnp.asarray(lin.bias.detach().numpy())))
  return model


def loss_fn(model, x, y):
  logp = jax.nn.log_softmax(jax.vmap(model)(x))
  return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


def train_torch(tmodel, data, lr, weight_decay, total):
  opt = torch.optim.AdamW(tmodel.parameters(), lr=lr, weight_decay=weight_decay)
  sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total)
  losses = []
  for x, y in tqdm(data, desc="torch ", unit="step", dynamic_ncols=True):
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(tmodel(torch.as_tensor(x)),
                                             torch.as_tensor(y, dtype=torch.long))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(tmodel.parameters(), 1.0)
    opt.step()
    sched.step()
    losses.append(loss.item())
  return np.array(losses)


def train_gradtx(model, data, lr, weight_decay, total):
  tx = gradtx.chain(
      torch_optim.clip_grad_norm(1.0),
      lr_scheduler.OneCycleLR(torch_optim.AdamW(lr=lr, weight_decay=weight_decay),
                              max_lr=lr, total_steps=total))
  opt_state = tx.init(eqx.filter(model, eqx.is_inexact_array))

  @eqx.filter_jit
  def step(model, opt_state, x, y):
    loss, grads = eqx.filter_value_and_grad(loss_fn)(model, x, y)
    updates, opt_state = tx.update(grads, opt_state, eqx.filter(model, eqx.is_inexact_array))
    return eqx.apply_updates(model, updates), opt_state, loss

  losses = []
  for x, y in tqdm(data, desc="gradtx", unit="step", dynamic_ncols=True):
    model, opt_state, loss = step(model, opt_state, jnp.asarray(x), jnp.asarray(y))
    losses.append(float(loss))
  return np.array(losses)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--epochs", type=int, default=10)
  parser.add_argument("--batch-size", type=int, default=64)
  parser.add_argument("--lr", type=float, default=3e-3)
  parser.add_argument("--weight-decay", type=float, default=1e-2)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", default="out/torch_port.png")
  args = parser.parse_args()

  x_train, _, y_train, _ = load_data(args.seed)
  rng = np.random.default_rng(args.seed)
  data = [b for _ in range(args.epochs) for b in batches(x_train, y_train, args.batch_size, rng)]
  tmodel = torch_model(args.seed)
  model = equinox_model(tmodel)  # same initial weights, before torch trains them
  theirs = train_torch(tmodel, data, args.lr, args.weight_decay, len(data))
  ours = train_gradtx(model, data, args.lr, args.weight_decay, len(data))
  diff = np.abs(ours - theirs)
  print(f"{len(data)} steps; final loss torch {theirs[-1]:.5f}, gradtx {ours[-1]:.5f}; "
        f"largest |difference| {diff.max():.2e} (float32 on both sides)")

  plt = pyplot()
  fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
  a.plot(theirs, label="PyTorch: AdamW + OneCycleLR + clip_grad_norm_", lw=2.5, alpha=0.6)
  a.plot(ours, "--", label="JAX/Equinox: gradtx.torch_optim, same chain", lw=1.2)
  a.set(xlabel="step", ylabel="training loss (batch)", yscale="log",
        title="Same init, same batches")
  a.legend(fontsize=8)
  b.semilogy(np.maximum(diff, 1e-9))
  b.set(xlabel="step", ylabel="|loss_torch - loss_gradtx|  (0 drawn at 1e-9)",
        title="Difference (float32)")
  save_figure(fig, args.out)
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
