"""Hyperparameter sweeps as one program: `jax.jit(jax.vmap(train))` over learning rates.

gradtx optimizers and schedules are pytrees of their numeric hyperparameters,
so an optimizer can be *built inside* a vmapped function from a traced value:

    def train(lr):
      tx = gradtx.adamw(gradtx.warmup_cosine_decay_schedule(0.0, lr, ...), ...)
      ...                                   # lax.scan over the training steps
    results = jax.jit(jax.vmap(train))(jnp.logspace(-4, 0, 32))

(Optax's schedules branch on their arguments in Python and cannot be built
from traced values.) This example trains a pure-JAX MLP (64-64-10) on
scikit-learn's digits (1797 8x8 images, bundled, no download):

1. 32 peak learning rates, log-spaced in [1e-4, 1], AdamW with a warm-up +
   cosine schedule, all in one jit(vmap(train)) call;
2. 32 weight decays, log-spaced in [1e-4, 1e1], AdamW (decay on the weight
   matrices only) at the best learning rate of sweep 1.

It plots the final losses against the swept value (two panels, log x) and
times the learning-rate sweep against the same runs done one after the other
in a Python loop of a jitted `train` (both timed after compilation; a tqdm bar
shows the loop; the best of 3 interleaved passes of each is kept). `--loop-runs N`
times only N of the loop runs and extrapolates to the full sweep, and says so.

    python examples/lr_sweep.py [--n 32] [--epochs 15] [--loop-runs 32] [--out out/lr_sweep.png]
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

import gradtx
from _digits import init_mlp, loss_fn, mlp
from _digits import load_data as digits_data
from _plot import pyplot, save_figure

SIZES = (64, 64, 10)


# --- data and model -------------------------------------------------------------

def load_data(seed: int = 0):
  """Digits scaled to [0, 1], split 80/20 (stratified), as device arrays."""
  x_tr, x_te, y_tr, y_te = digits_data(seed)
  return tuple(jnp.asarray(a) for a in (x_tr, y_tr, x_te, y_te))


def batch_indices(n_train: int, epochs: int, batch_size: int, seed: int = 0) -> jnp.ndarray:
  """(steps, batch_size) indices: shuffled full mini-batches, the same for every run."""
  rng = np.random.default_rng(seed)
  per_epoch = n_train // batch_size
  idx = [rng.permutation(n_train)[:per_epoch * batch_size].reshape(per_epoch, batch_size)
         for _ in range(epochs)]
  return jnp.asarray(np.concatenate(idx), jnp.int32)


# --- training: one run is a function of one hyperparameter value -------------------

def make_train(data, idx, make_tx: Callable[[jax.Array], gradtx.GradientTransformation],
               seed: int = 0):
  """`train(value) -> metrics`: the optimizer is built from `value` inside, so `value`
  may be traced (jit argument) or batched (vmap). The loop over steps is a lax.scan."""
  x_tr, y_tr, x_te, y_te = data
  params0 = init_mlp(jax.random.PRNGKey(seed), SIZES)  # the same initialisation for every run

  def train(value):
    tx = make_tx(value)

    def step(carry, batch):
      params, opt_state = carry
      loss, grads = jax.value_and_grad(loss_fn)(params, x_tr[batch], y_tr[batch])
      updates, opt_state = tx.update(grads, opt_state, params)
      return (gradtx.apply_updates(params, updates), opt_state), loss

    (params, _), losses = jax.lax.scan(step, (params0, tx.init(params0)), idx)
    test_logits = mlp(params, x_te)
    return {"train_loss": loss_fn(params, x_tr, y_tr),
            "test_loss": loss_fn(params, x_te, y_te),
            "test_acc": jnp.mean(jnp.argmax(test_logits, -1) == y_te),
            "last_batch_loss": losses[-1]}

  return train


def lr_optimizer(total_steps: int, weight_decay: float = 1e-4):
  """AdamW with a warm-up + cosine schedule whose peak is the (traced) learning rate."""
  def make(lr):
    schedule = gradtx.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=lr, warmup_steps=total_steps // 10,
        decay_steps=total_steps, end_value=0.01 * lr)
    return gradtx.adamw(schedule, weight_decay=weight_decay, mask=gradtx.by_ndim(2))
  return make


def wd_optimizer(total_steps: int, lr: float):
  """AdamW at a fixed schedule; the (traced) weight decay on the weight matrices only."""
  def make(wd):
    schedule = gradtx.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=lr, warmup_steps=total_steps // 10,
        decay_steps=total_steps, end_value=0.01 * lr)
    return gradtx.adamw(schedule, weight_decay=wd, mask=gradtx.by_ndim(2))
  return make


# --- timing ----------------------------------------------------------------------

def _block(tree):
  return jax.tree.map(lambda x: x.block_until_ready(), tree)


def time_sweep(train, values, loop_runs: int | None = None, repeats: int = 3,
               progress: bool = True) -> dict:
  """Times the sweep as one jit(vmap(train)) call and as a Python loop of a jitted
  `train`, both after compilation, interleaved `repeats` times (the minimum of each is
  kept: other processes only ever add time). `loop_runs` < len(values): only that many
  loop runs (evenly spaced) are timed and the loop total is extrapolated."""
  values = jnp.asarray(values)
  n = len(values)
  vmapped = jax.jit(jax.vmap(train))
  t = time.perf_counter()
  out = _block(vmapped(values))
  vmap_first = time.perf_counter() - t  # compile + run

  single = jax.jit(train)
  t = time.perf_counter()
  _block(single(values[0]))
  loop_first = time.perf_counter() - t  # compile + one run
  m = n if not loop_runs or loop_runs >= n else loop_runs
  picks = np.unique(np.linspace(0, n - 1, m).round().astype(int))

  vmap_times, loop_times, diffs = [], [], []
  with tqdm(total=repeats * len(picks), desc="python loop of jit(train)", unit="run",
            disable=not progress, dynamic_ncols=True, leave=False) as bar:
    for r in range(repeats):
      t = time.perf_counter()
      _block(vmapped(values))
      vmap_times.append(time.perf_counter() - t)
      t = time.perf_counter()
      for i in picks:
        one = _block(single(values[i]))
        if r == 0:
          diffs.append(abs(float(one["test_loss"]) - float(out["test_loss"][i])))
        bar.update(1)
      loop_times.append(time.perf_counter() - t)
  vmap_run, loop_measured = min(vmap_times), min(loop_times)
  per_run = loop_measured / len(picks)
  return {
      "n": n, "out": out, "vmap_first_s": vmap_first, "vmap_run_s": vmap_run,
      "loop_compile_s": max(loop_first - per_run, 0.0), "loop_runs_timed": len(picks),
      "loop_measured_s": loop_measured, "loop_per_run_s": per_run,
      "loop_total_s": per_run * n, "extrapolated": len(picks) < n,
      "speedup": per_run * n / vmap_run, "repeats": repeats,
      "diffs": np.asarray(diffs), "timed_values": np.asarray(values)[picks],
  }


def describe_timing(tm: dict, backend: str) -> list[str]:
  n = tm["n"]
  lines = [
      f"vmap: {n} runs in one jit(vmap(train)) call on {backend}: first call (compile + run) "
      f"{tm['vmap_first_s']:.2f} s, then {tm['vmap_run_s']:.3f} s (best of {tm['repeats']}) "
      f"({tm['vmap_run_s'] / n * 1e3:.1f} ms per run)",
  ]
  if tm["extrapolated"]:
    lines.append(
        f"loop: {tm['loop_runs_timed']} of the {n} runs timed one by one with a jitted train "
        f"(compiled once, {tm['loop_compile_s']:.2f} s): {tm['loop_measured_s']:.3f} s "
        f"(best of {tm['repeats']} passes), "
        f"{tm['loop_per_run_s'] * 1e3:.1f} ms per run; EXTRAPOLATED to {n} runs: "
        f"{tm['loop_total_s']:.2f} s")
  else:
    lines.append(
        f"loop: all {n} runs one by one with a jitted train (compiled once, "
        f"{tm['loop_compile_s']:.2f} s): {tm['loop_total_s']:.3f} s "
        f"({tm['loop_per_run_s'] * 1e3:.1f} ms per run; best of {tm['repeats']} passes), measured")
  lines.append(f"speed-up of the vmapped sweep over the Python loop (compiles excluded): "
               f"{tm['speedup']:.1f}x")
  diffs = tm["diffs"]
  close = np.abs(diffs) <= 1e-4
  line = (f"same results: {int(close.sum())} of {len(diffs)} timed runs agree with their vmap "
          f"lane to 1e-4 in final test loss")
  if (~close).any():
    line += (f"; the other {int((~close).sum())} (learning rates >= "
             f"{tm['timed_values'][~close].min():.2g}) are chaotic, so float32 rounding "
             f"differences of batched vs unbatched matmuls grow (max difference "
             f"{np.nanmax(diffs):.3f})")
  lines.append(line)
  lines.append(
      f"(an Optax-style loop, whose optimizer is a closure, recompiles train for every "
      f"value: about {n} x {tm['loop_compile_s']:.2f} s = {n * tm['loop_compile_s']:.1f} s "
      f"of compiles on top)")
  return lines


# --- plot -------------------------------------------------------------------------

def plot(out_path, lrs, lr_out, wds, wd_out, best_lr, title_note):
  plt = pyplot()

  fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
  panels = [(axes[0], lrs, lr_out, "peak learning rate (AdamW, warm-up + cosine)",
             "learning-rate sweep", "lower left"),
            (axes[1], wds, wd_out, f"weight decay (AdamW, peak lr {best_lr:.2g})",
             "weight-decay sweep", "upper left")]
  for ax, xs, res, xlabel, title, legend_loc in panels:
    xs = np.asarray(xs)
    for key, color, label in [("train_loss", "#1f77b4", "final train loss"),
                              ("test_loss", "#d62728", "final test loss")]:
      ys = np.asarray(res[key], np.float64)
      ok = np.isfinite(ys) & (ys < 1e3)
      ax.plot(xs[ok], ys[ok], "o-", ms=3.5, color=color, label=label)
      if (~ok).any():
        ax.plot(xs[~ok], np.full((~ok).sum(), ax.get_ylim()[1] if ok.any() else 1.0), "x",
                color=color, label=f"{label}: diverged")
    best = int(np.argmin(np.where(np.isfinite(res["test_loss"]), res["test_loss"], np.inf)))
    ax.axvline(xs[best], color="gray", ls=":", lw=1)
    ax.annotate(f"best test loss {float(res['test_loss'][best]):.3f}\n"
                f"(acc {100 * float(res['test_acc'][best]):.1f}%) at {xs[best]:.2g}",
                xy=(xs[best], float(res["test_loss"][best])), xytext=(0.38, 0.97),
                textcoords="axes fraction", fontsize=9, va="top",
                arrowprops=dict(arrowstyle="->", color="gray", lw=0.8))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("cross-entropy")
    ax.set_title(f"{title} ({len(xs)} runs, one jit(vmap(train)))")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc=legend_loc, fontsize=9)
  fig.suptitle(f"MLP {'-'.join(map(str, SIZES))} on sklearn digits; {title_note}", fontsize=11)
  save_figure(fig, out_path)


# --- main -------------------------------------------------------------------------

def setup(epochs: int, batch_size: int, seed: int = 0):
  data = load_data(seed)
  idx = batch_indices(data[0].shape[0], epochs, batch_size, seed)
  return data, idx


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--n", type=int, default=32, help="values per sweep (>= 32 asked)")
  parser.add_argument("--epochs", type=int, default=15)
  parser.add_argument("--batch-size", type=int, default=64)
  parser.add_argument("--loop-runs", type=int, default=0,
                      help="time only this many Python-loop runs and extrapolate (0: all)")
  parser.add_argument("--repeats", type=int, default=3, help="timing passes (min kept)")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", default="out/lr_sweep.png")
  args = parser.parse_args()

  data, idx = setup(args.epochs, args.batch_size, args.seed)
  steps = int(idx.shape[0])
  n_params = sum(int(p.size) for p in jax.tree.leaves(init_mlp(jax.random.PRNGKey(0), SIZES)))
  backend = f"{jax.default_backend()} ({jax.devices()[0].device_kind})"
  print(f"digits: {data[0].shape[0]} train / {data[2].shape[0]} test images; MLP {SIZES}, "
        f"{n_params} parameters; {args.epochs} epochs = {steps} steps of {args.batch_size}; "
        f"jax {jax.__version__} on {backend}")

  lrs = np.logspace(-4, 0, args.n)
  train_lr = make_train(data, idx, lr_optimizer(steps), args.seed)
  tm = time_sweep(train_lr, lrs, args.loop_runs or None, args.repeats)
  lr_out = jax.tree.map(np.asarray, tm["out"])
  best = int(np.argmin(np.where(np.isfinite(lr_out["test_loss"]), lr_out["test_loss"], np.inf)))
  best_lr = float(lrs[best])
  print(f"learning-rate sweep ({args.n} values in [{lrs[0]:.0e}, {lrs[-1]:.0e}]): best test "
        f"loss {lr_out['test_loss'][best]:.4f} (accuracy {100 * lr_out['test_acc'][best]:.1f}%) "
        f"at lr {best_lr:.3g}; {int(np.sum(~np.isfinite(lr_out['train_loss'])))} runs diverged")
  for line in describe_timing(tm, backend):
    print(line)

  wds = np.logspace(-4, 1, args.n)
  train_wd = make_train(data, idx, wd_optimizer(steps, best_lr), args.seed)
  t = time.perf_counter()
  wd_out = jax.tree.map(np.asarray, _block(jax.jit(jax.vmap(train_wd))(jnp.asarray(wds))))
  wd_time = time.perf_counter() - t
  best_wd = int(np.argmin(np.where(np.isfinite(wd_out["test_loss"]), wd_out["test_loss"],
                                   np.inf)))
  print(f"weight-decay sweep ({args.n} values in [{wds[0]:.0e}, {wds[-1]:.0e}], lr {best_lr:.3g}): "
        f"{wd_time:.2f} s including compile; best test loss {wd_out['test_loss'][best_wd]:.4f} "
        f"(accuracy {100 * wd_out['test_acc'][best_wd]:.1f}%) at weight decay {wds[best_wd]:.3g}; "
        f"final train loss {wd_out['train_loss'][0]:.3g} at {wds[0]:.0e} -> "
        f"{wd_out['train_loss'][-1]:.3g} at {wds[-1]:.0e}")

  note = (f"vmap vs Python loop: {tm['speedup']:.1f}x faster"
          f"{' (loop extrapolated)' if tm['extrapolated'] else ''} on {jax.default_backend()}")
  plot(args.out, lrs, lr_out, wds, wd_out, best_lr, note)
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
