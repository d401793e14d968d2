"""Sharded training with gradtx: data parallel and tensor (model) parallel on a device Mesh.

Eight virtual CPU devices stand in for eight accelerators (the two `os.environ`
lines below, which must run before JAX is imported; on a machine with eight
GPUs/TPUs, delete them). An MLP 64-256-128-10 is trained on scikit-learn's
digits three times, with the same data order:

  1. single device (the reference);
  2. data parallel: Mesh(8, ("data",)); params replicated, each batch split 8 ways;
  3. data + tensor parallel: Mesh(4x2, ("data", "model")); batch split over "data",
     the first two weight matrices split over "model" (column- then row-parallel,
     as in Megatron-LM), the last layer replicated.

Nothing in the training code mentions shardings: the params are placed with
`jax.device_put(..., NamedSharding(mesh, spec))`, `jax.jit(tx.init)(params)` gives
each optimizer-state leaf the sharding of its param, and the jitted step keeps
every sharding (XLA inserts the collectives; the global-norm clip is a global
reduction). The script prints the shardings of params and state, the test
accuracy of each run and how far the sharded runs are from the reference, and
writes a PNG of the three loss curves. About a minute on two CPU cores.

    python examples/sharded_training.py [--epochs 12] [--out out/sharded_training.png]
"""

from __future__ import annotations

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P  # noqa: E402
from tqdm import tqdm  # noqa: E402

import gradtx  # noqa: E402
from _digits import init_mlp, load_data, loss_fn, mlp  # noqa: E402
from _plot import pyplot, save_figure

SIZES = (64, 256, 128, 10)

# Tensor parallelism: layer 0 column-parallel (outputs split over "model"), layer 1
# row-parallel (inputs split over "model"), layer 2 replicated.
TENSOR_PARALLEL_SPECS = [
    {"w": P(None, "model"), "b": P("model")},
    {"w": P("model", None), "b": P()},
    {"w": P(), "b": P()},
]


# --- data, model, optimizer -------------------------------------------------------------

def batch_order(n, batch_size, epochs, seed):
  rng = np.random.default_rng(seed)
  return [rng.permutation(n)[i * batch_size:(i + 1) * batch_size]
          for _ in range(epochs) for i in range(n // batch_size)]


def make_optimizer(total_steps, steps_per_epoch):
  schedule = gradtx.warmup_cosine_decay_schedule(0.0, 3e-3, 2 * steps_per_epoch, total_steps,
                                                 end_value=3e-5)
  return gradtx.chain(gradtx.clip_by_global_norm(1.0),
                      gradtx.adamw(schedule, weight_decay=1e-2))


@jax.jit
def train_step(tx, params, opt_state, x, y):
  """The same code for every layout: shardings come with the arrays."""
  loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
  updates, opt_state = tx.update(grads, opt_state, params)
  return gradtx.apply_updates(params, updates), opt_state, loss


@jax.jit
def accuracy(params, x, y):
  return jnp.mean(jnp.argmax(mlp(params, x), -1) == y)


# --- layouts ----------------------------------------------------------------------------

def layout(name):
  """(params specs or None, batch spec, mesh) of a run."""
  if name == "single device":
    return None, None, None
  if name == "data parallel":
    mesh = jax.make_mesh((8,), ("data",), axis_types=(AxisType.Auto,))
    return [{"w": P(), "b": P()}] * 3, P("data"), mesh
  mesh = jax.make_mesh((4, 2), ("data", "model"), axis_types=(AxisType.Auto,) * 2)
  return TENSOR_PARALLEL_SPECS, P("data"), mesh


def place(tree, specs, mesh):
  if mesh is None:
    return jax.device_put(tree, jax.devices()[0])
  return jax.tree.map(lambda x, s: jax.device_put(x, NamedSharding(mesh, s)), tree, specs)


def describe(x):
  if isinstance(x.sharding, NamedSharding):
    shard = x.addressable_shards[0].data.shape
    return f"{str(x.sharding.spec):22s} shape {str(x.shape):10s} per device {shard}"
  return f"{type(x.sharding).__name__}"


def print_shardings(params, opt_state):
  adam_state = opt_state[1][0]  # chain(clip, adamw) -> adamw = chain(adam, decay, lr)
  follows = all(m.sharding.is_equivalent_to(p.sharding, p.ndim) and
                v.sharding.is_equivalent_to(p.sharding, p.ndim)
                for p, m, v in zip(jax.tree.leaves(params), jax.tree.leaves(adam_state.mu),
                                   jax.tree.leaves(adam_state.nu)))
  for i, layer in enumerate(params):
    for k in ("w", "b"):
      tqdm.write(f"    param layer{i}.{k}: {describe(layer[k])}")
      tqdm.write(f"      adam mu      : {describe(adam_state.mu[i][k])}")
  tqdm.write(f"    step count: {describe(adam_state.count)}; "
             f"every state leaf has its param's sharding: {follows}")


def train(name, x_train, y_train, x_test, y_test, order, tx, seed):
  specs, batch_spec, mesh = layout(name)
  params = place(init_mlp(jax.random.key(seed), SIZES), specs, mesh)
  opt_state = jax.jit(tx.init)(params)  # no out_shardings: the state follows the params
  tqdm.write(f"\n== {name}" + (f" on {dict(mesh.shape)}" if mesh is not None else ""))
  if mesh is not None:
    print_shardings(params, opt_state)
  put_batch = ((lambda a: jax.device_put(a, NamedSharding(mesh, batch_spec))) if mesh is not None
               else (lambda a: jax.device_put(a, jax.devices()[0])))
  losses = []
  for idx in tqdm(order, desc=name, unit="step", dynamic_ncols=True, leave=False):
    params, opt_state, loss = train_step(tx, params, opt_state, put_batch(x_train[idx]),
                                         put_batch(y_train[idx]))
    losses.append(loss)
  losses = np.asarray(jax.device_get(losses))
  placed = jax.tree.leaves(place(init_mlp(jax.random.key(seed), SIZES), specs, mesh))
  kept = all(a.sharding.is_equivalent_to(b.sharding, a.ndim)  # P("model", None) ~ P("model")
             for a, b in zip(jax.tree.leaves(params), placed))
  acc = float(accuracy(params, put_batch(x_test), put_batch(y_test)))
  tqdm.write(f"    after {len(order)} steps: params kept their shardings: {kept}; "
             f"test accuracy {100 * acc:.2f}%")
  return jax.device_get(params), losses, acc


def save_plot(out, runs, steps_per_epoch):
  plt = pyplot()

  fig, ax = plt.subplots(figsize=(8, 4.5))
  window = steps_per_epoch // 2
  styles = {"single device": ("#9ecae1", "-", 6.0), "data parallel": ("#ff7f0e", "--", 2.5),
            "data + tensor parallel": ("#006d2c", ":", 2.0)}
  for name, (_, losses, acc) in runs.items():
    color, ls, lw = styles[name]
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    ax.semilogy(np.arange(window, len(losses) + 1), smooth, color=color, ls=ls, lw=lw,
                label=f"{name}: test acc {100 * acc:.2f}%")
  ax.set_xlabel("step")
  ax.set_ylabel(f"train loss ({window}-step mean)")
  ax.set_title("gradtx clip + AdamW: one device vs 8-device meshes (the curves coincide)",
               fontsize=10)
  ax.grid(True, which="both", alpha=0.3)
  ax.legend()
  save_figure(fig, out)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--epochs", type=int, default=12)
  parser.add_argument("--batch-size", type=int, default=64)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", default="out/sharded_training.png")
  args = parser.parse_args()

  t0 = time.perf_counter()
  print(f"{jax.device_count()} devices: {jax.devices()}")
  x_train, x_test, y_train, y_test = load_data(args.seed)
  steps_per_epoch = len(x_train) // args.batch_size
  order = batch_order(len(x_train), args.batch_size, args.epochs, args.seed)
  tx = make_optimizer(len(order), steps_per_epoch)

  runs = {name: train(name, x_train, y_train, x_test, y_test, order, tx, args.seed)
          for name in ("single device", "data parallel", "data + tensor parallel")}

  ref = runs["single device"][0]
  print("\nsummary")
  for name, (params, losses, acc) in runs.items():
    diff = max(float(np.max(np.abs(a - b))) for a, b in
               zip(jax.tree.leaves(params), jax.tree.leaves(ref)))
    print(f"  {name:24s} test accuracy {100 * acc:.2f}%   final loss {losses[-1]:.4f}   "
          f"max |param - single-device param| {diff:.1e}")
  save_plot(args.out, runs, steps_per_epoch)
  print(f"{time.perf_counter() - t0:.1f}s; plot: {args.out}")


if __name__ == "__main__":
  main()
