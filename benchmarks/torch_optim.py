"""gradtx.torch_optim against its native gradtx chain, against torch.optim, and (with
`--pitfalls`) the numbers behind docs/porting_from_pytorch.md.

    python -m benchmarks.torch_optim                # step time: torch_optim / native / torch
    python -m benchmarks.torch_optim --pitfalls     # PyTorch vs the nearest Optax call

Timing: one process, a jitted `update + apply_updates` step on a tree of `--leaves`
leaves of `--size` float32 elements, donated buffers, interleaved repeats, min of the repeats; torch
runs `optimizer.step()` on the same tree (CPU, its default single-tensor path, which is
what PyTorch uses on CPU). `kernels` are benchmarks/hlo.py's counts of the compiled step:
array kernels (the ones streaming memory) / all non-trivial entry instructions.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import gradtx
from benchmarks.hlo import profile
from gradtx import torch_optim

# label -> (torch.optim class, kwargs, native gradtx optimizer with the same numbers or None)
PAIRS = {
    "SGD(momentum=0.9)": ("SGD", {"lr": 1e-3, "momentum": 0.9},
                          lambda: gradtx.sgd(1e-3, momentum=0.9)),
    "SGD(nesterov)": ("SGD", {"lr": 1e-3, "momentum": 0.9, "nesterov": True},
                      lambda: gradtx.sgd(1e-3, momentum=0.9, nesterov=True)),
    "SGD": ("SGD", {"lr": 1e-3}, lambda: gradtx.sgd(1e-3)),
    "Adam": ("Adam", {"lr": 1e-3}, lambda: gradtx.adam(1e-3)),
    "AdamW": ("AdamW", {"lr": 1e-3}, lambda: gradtx.adamw(1e-3, weight_decay=1e-2)),
    "RMSprop": ("RMSprop", {"lr": 1e-2},
                lambda: gradtx.rmsprop(1e-2, 0.99, 1e-8, eps_in_sqrt=False)),
    "RMSprop(centered, momentum)": (
        "RMSprop", {"lr": 1e-2, "centered": True, "momentum": 0.9},
        lambda: gradtx.rmsprop(1e-2, 0.99, 1e-8, eps_in_sqrt=False, centered=True,
                               momentum=0.9)),
    "Adagrad": ("Adagrad", {"lr": 1e-2},
                lambda: gradtx.adagrad(1e-2, 0.0, 1e-10, eps_in_sqrt=False)),
    "Adadelta": ("Adadelta", {"lr": 1.0}, lambda: gradtx.adadelta(1.0)),
    "Adamax": ("Adamax", {"lr": 2e-3}, lambda: gradtx.adamax(2e-3)),
    "NAdam": ("NAdam", {"lr": 2e-3}, lambda: gradtx.nadam(2e-3)),
    "RAdam": ("RAdam", {"lr": 1e-3}, lambda: gradtx.radam(1e-3)),
    "Rprop": ("Rprop", {"lr": 1e-2}, lambda: gradtx.rprop(1e-2)),
    "ASGD": ("ASGD", {"lr": 1e-2}, None),
}
# Rows whose native optimizer is the same update rule (the others are the nearest one).
SAME_RULE = {"SGD(momentum=0.9)", "SGD(nesterov)", "SGD", "Adam", "AdamW", "RMSprop",
             "RMSprop(centered, momentum)", "Adagrad", "Adadelta", "Adamax"}


def _kernels(compiled) -> str:
  """`array kernels / all kernels` of the compiled step (benchmarks/hlo.py's counts)."""
  counts = profile(compiled.as_text())
  return f"{counts['array_kernels']}/{counts['kernels']}"


def _jax_contender(tx, params, grads):
  def step(g, state, p):
    u, state = tx.update(g, state, p)
    return state, gradtx.apply_updates(p, u)
  state = tx.init(params)
  compiled = jax.jit(step, donate_argnums=(1, 2)).lower(grads, state, params).compile()
  box = {"state": state, "params": jax.tree.map(jnp.copy, params)}

  def run():
    box["state"], box["params"] = compiled(grads, box["state"], box["params"])
    jax.block_until_ready(box["params"])
  return run, _kernels(compiled)


def _torch_contender(name, kwargs, params, grads):
  import torch
  ps = [torch.tensor(np.asarray(p)).requires_grad_() for p in jax.tree.leaves(params)]
  for p, g in zip(ps, jax.tree.leaves(grads)):
    p.grad = torch.tensor(np.asarray(g))
  opt = getattr(torch.optim, name)(ps, **kwargs)

  def run():
    with torch.no_grad():
      opt.step()
  return run


def _time(runs: dict, repeats: int, inner: int) -> dict:
  for run in runs.values():
    run()  # warm-up
  samples = {k: [] for k in runs}
  names = list(runs)
  for r in range(repeats):
    for k in names[r % len(names):] + names[:r % len(names)]:  # rotate who goes first
      run = runs[k]
      t0 = time.perf_counter()
      for _ in range(inner):
        run()
      samples[k].append((time.perf_counter() - t0) / inner)
  return {k: min(v) for k, v in samples.items()}


def timing(leaves: int, size: int, repeats: int, inner: int, torch_too: bool) -> None:
  rng = np.random.default_rng(0)
  params = {f"w{i}": jnp.asarray(rng.normal(size=size), jnp.float32) for i in range(leaves)}
  grads = {k: jnp.asarray(rng.normal(size=size), jnp.float32) for k in params}
  print("| optimizer | torch_optim (ms) | native gradtx (ms) | ratio | torch.optim (ms) | "
        "kernels (array/all) torch_optim | native |")
  print("|---|---:|---:|---:|---:|---:|---:|")
  for label, (name, kwargs, native) in PAIRS.items():
    ours, k_ours = _jax_contender(getattr(torch_optim, name)(**kwargs), params, grads)
    runs = {"ours": ours}
    k_native = "-"
    if native is not None:
      runs["native"], k_native = _jax_contender(native(), params, grads)
    if torch_too:
      runs["torch"] = _torch_contender(name, kwargs, params, grads)
    t = {k: v * 1e3 for k, v in _time(runs, repeats, inner).items()}
    ratio = f"{t['ours'] / t['native']:.2f}" if "native" in t else "-"
    mark = "" if label in SAME_RULE or native is None else " (other rule)"
    print(f"| {label} | {t['ours']:.3f} | {t.get('native', float('nan')):.3f}{mark} | {ratio} | "
          f"{t.get('torch', float('nan')):.3f} | {k_ours} | {k_native} |", flush=True)


# ---------------------------------------------------------------- pitfalls (float64)

def _problem():
  rng = np.random.default_rng(0)
  x, init = rng.normal(size=(16, 5)), {"W": 0.5 * rng.normal(size=(5, 4)),
                                       "b": 0.3 + 0.1 * rng.normal(size=4),
                                       "v": rng.normal(size=4)}
  return x, np.sin(x.sum(axis=1)), init


def _loss(p, lib, x, y):
  h = lib.tanh(x @ p["W"] + p["b"])
  return ((h @ p["v"] - y) ** 2).mean() + 0.05 * lib.sin(3 * p["W"]).sum()


def _torch_path(name, kwargs, steps, sched=None, values=None):
  import torch
  x, y, init = _problem()
  xt, yt = torch.tensor(x), torch.tensor(y)
  p = {k: torch.tensor(v, requires_grad=True) for k, v in init.items()}
  opt = getattr(torch.optim, name)(list(p.values()), **kwargs)
  s = sched(opt) if sched else None
  path, lrs = [], []
  for k in range(steps):
    opt.zero_grad()
    _loss(p, torch, xt, yt).backward()
    lrs.append(opt.param_groups[0]["lr"])
    opt.step()
    if s is not None:
      s.step(*([values[k]] if values is not None else []))
    path.append(np.concatenate([t.detach().numpy().ravel() for t in p.values()]))
  return np.array(path), np.array(lrs)


def _optax_path(tx, steps):
  x, y, init = _problem()
  p = {k: jnp.asarray(v) for k, v in init.items()}
  grad = jax.jit(jax.grad(lambda q: _loss(q, jnp, jnp.asarray(x), jnp.asarray(y))))
  state, path = tx.init(p), []
  for _ in range(steps):
    u, state = tx.update(grad(p), state, p)
    p = jax.tree.map(lambda a, b: a + b, p, u)
    path.append(np.concatenate([np.asarray(p[k]).ravel() for k in init]))
  return np.array(path)


def _rel(a, b):
  """`||a - b|| / ||b - p0||` after step 1 and after the last step (relative to the distance
  PyTorch's parameters travelled)."""
  p0 = np.concatenate([v.ravel() for v in _problem()[2].values()])
  return [np.linalg.norm(a[i] - b[i]) / np.linalg.norm(b[i] - p0) for i in (0, -1)]


def pitfalls(steps: int = 100) -> None:
  """PyTorch (live) against the nearest Optax call: relative parameter difference."""
  import optax
  import torch
  jax.config.update("jax_enable_x64", True)
  torch.set_default_dtype(torch.float64)
  rows = [
      ("Adam(lr=1e-2, weight_decay=0.1)", "optax.adamw(1e-2, weight_decay=0.1)",
       ("Adam", {"lr": 1e-2, "weight_decay": 0.1}), optax.adamw(1e-2, weight_decay=0.1)),
      ("Adam(lr=1e-2, weight_decay=0.1)", "chain(add_decayed_weights(0.1), adam(1e-2))",
       ("Adam", {"lr": 1e-2, "weight_decay": 0.1}),
       optax.chain(optax.add_decayed_weights(0.1), optax.adam(1e-2))),
      ("RMSprop(lr=1e-2)", "optax.rmsprop(1e-2)", ("RMSprop", {"lr": 1e-2}),
       optax.rmsprop(1e-2)),
      ("Adagrad(lr=1e-2)", "optax.adagrad(1e-2)", ("Adagrad", {"lr": 1e-2}),
       optax.adagrad(1e-2)),
      ("Adagrad(lr=0.1, lr_decay=0.05)", "optax.adagrad(0.1, 0.0, 1e-10)",
       ("Adagrad", {"lr": 0.1, "lr_decay": 0.05}), optax.adagrad(0.1, 0.0, 1e-10)),
      ("SGD(lr=1e-2, momentum=0.9, dampening=0.5)", "optax.sgd(1e-2, momentum=0.9)",
       ("SGD", {"lr": 1e-2, "momentum": 0.9, "dampening": 0.5}),
       optax.sgd(1e-2, momentum=0.9)),
      ("SGD(lr=1e-2, momentum=0.9)", "optax.sgd(1e-2, momentum=0.9)",
       ("SGD", {"lr": 1e-2, "momentum": 0.9}), optax.sgd(1e-2, momentum=0.9)),
      ("Adam(lr=1e-2, amsgrad=True)", "optax.amsgrad(1e-2)",
       ("Adam", {"lr": 1e-2, "amsgrad": True}), optax.amsgrad(1e-2)),
      ("NAdam(lr=2e-3)", "optax.nadam(2e-3)", ("NAdam", {"lr": 2e-3}), optax.nadam(2e-3)),
      ("RAdam(lr=1e-3, eps=1e-3)", "optax.radam(1e-3, eps=1e-3)",
       ("RAdam", {"lr": 1e-3, "eps": 1e-3}), optax.radam(1e-3, eps=1e-3)),
      ("Rprop(lr=1e-2)", "optax.rprop(1e-2)", ("Rprop", {"lr": 1e-2}), optax.rprop(1e-2)),
  ]
  print(f"| PyTorch | nearest Optax | rel. diff after step 1 | after step {steps} |")
  print("|---|---|---:|---:|")
  for t_label, o_label, (name, kwargs), tx in rows:
    theirs, _ = _torch_path(name, kwargs, steps)
    first, last = _rel(_optax_path(tx, steps), theirs)
    print(f"| `{t_label}` | `{o_label}` | {first:.2e} | {last:.2e} |")

  L = torch.optim.lr_scheduler
  _, lrs = _torch_path("SGD", {"lr": 0.1}, 60, lambda o: L.CosineAnnealingLR(o, T_max=20))
  cos = optax.cosine_decay_schedule(0.1, 20)
  print(f"\nCosineAnnealingLR(T_max=20) at step 30: torch {lrs[30]:.4g}, "
        f"optax.cosine_decay_schedule(0.1, 20)(30) = {float(cos(30)):.4g}; step 40: "
        f"torch {lrs[40]:.4g}, optax {float(cos(40)):.4g}")
  _, lrs = _torch_path("SGD", {"lr": 0.1, "momentum": 0.9}, 100,
                       lambda o: L.OneCycleLR(o, max_lr=0.1, total_steps=100))
  oc = np.array([float(optax.cosine_onecycle_schedule(100, 0.1)(k)) for k in range(101)])
  same = np.max(np.abs(oc[:100] - lrs) / lrs)
  peak_t, peak_o = int(np.argmax(lrs)), int(np.argmax(oc))
  print(f"OneCycleLR(max_lr=0.1, total_steps=100) vs optax.cosine_onecycle_schedule(100, 0.1): "
        f"max rel. diff step by step {same:.3g}; peak at step {peak_t} (torch) vs {peak_o} "
        f"(optax); final lr torch {lrs[-1]:.3g}, optax {oc[99]:.3g}")
  values = [1.0, 0.9] + [0.95] * 10
  _, lrs = _torch_path("SGD", {"lr": 0.1}, len(values),
                       lambda o: L.ReduceLROnPlateau(o, patience=2), values)
  plateau = optax.contrib.reduce_on_plateau(patience=2)
  state, scales = plateau.init(jnp.zeros(1)), []
  for v in values:
    scales.append(float(state.scale))
    _, state = plateau.update(jnp.zeros(1), state, value=jnp.asarray(v))
  print(f"ReduceLROnPlateau(patience=2), metric {values[:5]}...: first step with the lower "
        f"rate (0-based): torch {int(np.argmax(lrs < 0.1))}, optax.contrib.reduce_on_plateau "
        f"{int(np.argmax(np.array(scales) < 1))}")
  g = {"a": jnp.asarray(np.random.default_rng(3).normal(size=100) * 0.3)}
  ours, _ = optax.clip_by_global_norm(1.0).update(g, optax.clip_by_global_norm(1.0).init(g))
  t = torch.tensor(np.asarray(g["a"]), requires_grad=True)
  t.grad = torch.tensor(np.asarray(g["a"]))
  norm = float(torch.nn.utils.clip_grad_norm_([t], 1.0))
  diff = np.linalg.norm(np.asarray(ours["a"]) - t.grad.numpy()) / np.linalg.norm(t.grad.numpy())
  print(f"clip_grad_norm_(max_norm=1) vs optax.clip_by_global_norm(1), gradient norm {norm:.3g}: "
        f"rel. diff {diff:.2e}")


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--pitfalls", action="store_true")
  parser.add_argument("--leaves", type=int, default=8)
  parser.add_argument("--size", type=int, default=1 << 18)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--inner", type=int, default=10)
  parser.add_argument("--no-torch", action="store_true")
  args = parser.parse_args(argv)
  if args.pitfalls:
    pitfalls()
  else:
    timing(args.leaves, args.size, args.repeats, args.inner, not args.no_torch)


if __name__ == "__main__":
  main()
