"""A tiny byte-level transformer language model, trained with five optimizers.

The corpus is Python's own standard library: a fixed list of its source files, read
from `os.path.dirname(os.__file__)` as bytes (vocabulary = 256 bytes, no download,
the same text for a given Python version). The model is a pure-JAX pre-LayerNorm
GPT (d_model 64, 2 layers, 4 heads, context 64, ~0.13M parameters). Every optimizer
starts from the same initialisation and sees the same batches:

* AdamW (`gradtx.adamw`), warm-up + cosine learning rate;
* Muon (`gradtx.contrib.muon`), the hidden matrices orthogonalized, the embeddings
  and the output head sent to AdamW with `adam_mask=gradtx.by_path(...)`;
* SOAP (`gradtx.soap`) and Shampoo (`gradtx.shampoo`, Adam grafting);
* schedule-free AdamW (`gradtx.contrib.schedule_free_adamw`), evaluated at the
  averaged iterate (`gradtx.contrib.schedule_free_eval_params`).

Then one `jax.jit(jax.vmap(train))` call trains AdamW at 4 peak learning rates at
once (the optimizer is a pytree of its numbers, built from the traced learning rate
inside the vmapped function; see `lr_sweep.py`). The PNG shows validation loss
against steps, against training wall-clock (compiles and evaluations excluded) and
the sweep; a table of final validation losses and wall seconds is printed.

    python examples/tiny_lm.py [--steps 300] [--quick] [--out out/tiny_lm.png]
"""

from __future__ import annotations

import os

# One OpenBLAS thread: JAX's CPU eigh / QR (SOAP, Shampoo) call LAPACK, whose own threads
# fight XLA's thread pool for the cores; on 2 shared cores a 256x256 QR took 0.36 s with the
# default threads and 0.015 s with one. Set before numpy / jax load OpenBLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from typing import Any, Callable, NamedTuple  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

import gradtx  # noqa: E402
from _plot import pyplot, save_figure  # noqa: E402

# Standard-library files of the corpus, in this order (those missing are skipped).
CORPUS_FILES = (
    "collections/__init__.py", "functools.py", "textwrap.py", "string.py", "typing.py",
    "dataclasses.py", "enum.py", "argparse.py", "difflib.py", "heapq.py", "bisect.py",
    "contextlib.py", "shutil.py", "pathlib.py", "random.py", "statistics.py", "fractions.py",
)


class Config(NamedTuple):
  d_model: int = 64
  n_layers: int = 2
  n_heads: int = 4
  context: int = 64
  batch: int = 32
  steps: int = 300
  eval_every: int = 25
  val_windows: int = 128


QUICK = Config(d_model=32, n_layers=1, n_heads=2, context=32, batch=8, steps=12, eval_every=4,
               val_windows=16)


# --- data ---------------------------------------------------------------------------

def load_corpus(max_bytes: int | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
  """The files of `CORPUS_FILES` as one byte array, split 90/10 into train / validation."""
  root = os.path.dirname(os.__file__)
  chunks, used = [], []
  for name in CORPUS_FILES:
    path = os.path.join(root, name)
    if os.path.exists(path):
      with open(path, "rb") as f:
        chunks.append(f.read())
      used.append(name)
  data = np.frombuffer(b"\n".join(chunks), np.uint8)
  if max_bytes:
    data = data[:max_bytes]
  split = int(0.9 * len(data))
  return data[:split], data[split:], used


def batch_starts(n: int, context: int, steps: int, batch: int, seed: int) -> np.ndarray:
  """(steps, batch) window starts: the same batches for every optimizer."""
  return np.random.default_rng(seed).integers(0, n - context - 1, (steps, batch), np.int32)


def windows(data: jax.Array, starts: jax.Array, context: int) -> tuple[jax.Array, jax.Array]:
  """Inputs and next-byte targets, both (len(starts), context) int32."""
  idx = starts[:, None] + jnp.arange(context + 1)[None, :]
  seq = data[idx].astype(jnp.int32)
  return seq[:, :-1], seq[:, 1:]


# --- model: a pre-LayerNorm GPT in pure JAX ------------------------------------------

def init_params(key: jax.Array, cfg: Config, vocab: int = 256) -> dict:
  d = cfg.d_model
  keys = iter(jax.random.split(key, 3 + 4 * cfg.n_layers))
  normal = lambda shape, std: std * jax.random.normal(next(keys), shape, jnp.float32)
  ln = lambda: {"scale": jnp.ones((d,), jnp.float32), "bias": jnp.zeros((d,), jnp.float32)}
  out_std = 0.02 / math.sqrt(2 * cfg.n_layers)  # GPT-2's scaled residual projections
  blocks = [{"ln1": ln(),
             "attn": {"qkv": normal((d, 3 * d), 0.02), "proj": normal((d, d), out_std)},
             "ln2": ln(),
             "mlp": {"fc": normal((d, 4 * d), 0.02), "proj": normal((4 * d, d), out_std)}}
            for _ in range(cfg.n_layers)]
  return {"tok_embed": normal((vocab, d), 0.02), "pos_embed": normal((cfg.context, d), 0.02),
          "blocks": blocks, "ln_f": ln(), "lm_head": {"w": normal((d, vocab), 0.02)}}


def layer_norm(p: dict, x: jax.Array) -> jax.Array:
  mean = x.mean(-1, keepdims=True)
  var = ((x - mean) ** 2).mean(-1, keepdims=True)
  return (x - mean) * jax.lax.rsqrt(var + 1e-5) * p["scale"] + p["bias"]


def attention(p: dict, x: jax.Array, n_heads: int) -> jax.Array:
  b, t, d = x.shape
  q, k, v = jnp.split(x @ p["qkv"], 3, axis=-1)
  heads = lambda a: a.reshape(b, t, n_heads, d // n_heads)
  logits = jnp.einsum("bqhd,bkhd->bhqk", heads(q), heads(k)) / math.sqrt(d // n_heads)
  causal = jnp.tril(jnp.ones((t, t), bool))
  weights = jax.nn.softmax(jnp.where(causal, logits, -1e30), axis=-1)
  return jnp.einsum("bhqk,bkhd->bqhd", weights, heads(v)).reshape(b, t, d) @ p["proj"]


def forward(params: dict, tokens: jax.Array, n_heads: int) -> jax.Array:
  x = params["tok_embed"][tokens] + params["pos_embed"][: tokens.shape[1]]
  for blk in params["blocks"]:
    x = x + attention(blk["attn"], layer_norm(blk["ln1"], x), n_heads)
    h = layer_norm(blk["ln2"], x)
    x = x + jax.nn.gelu(h @ blk["mlp"]["fc"]) @ blk["mlp"]["proj"]
  return layer_norm(params["ln_f"], x) @ params["lm_head"]["w"]


def loss_fn(params: dict, inputs: jax.Array, targets: jax.Array, n_heads: int) -> jax.Array:
  """Mean next-byte cross-entropy (nats)."""
  logp = jax.nn.log_softmax(forward(params, inputs, n_heads))
  return -jnp.mean(jnp.take_along_axis(logp, targets[..., None], -1))


# --- optimizers ------------------------------------------------------------------------

def schedule(peak: Any, steps: int) -> Any:
  """Linear warm-up over the first 10% of the steps, then cosine decay to 10% of `peak`."""
  return gradtx.warmup_cosine_decay_schedule(0.0, peak, max(steps // 10, 1), steps, 0.1 * peak)


def adamw(lr: Any, steps: int) -> gradtx.GradientTransformation:
  return gradtx.adamw(schedule(lr, steps), b2=0.99, weight_decay=0.01,
                      mask=gradtx.by_ndim(2))


def optimizers(steps: int) -> dict[str, gradtx.GradientTransformation | None]:
  """Name -> optimizer (None: not in this gradtx). Learning rates tuned on this task."""
  warmup = max(steps // 10, 1)
  out: dict[str, gradtx.GradientTransformation | None] = {
      "AdamW (lr 3e-3)": adamw(3e-3, steps),
      "Muon (lr 0.02; embeddings, head: AdamW 3e-3)": gradtx.contrib.muon(
          schedule(0.02, steps), adam_learning_rate=schedule(3e-3, steps), adam_b2=0.99,
          weight_decay=0.01, adam_weight_decay=0.01,
          adam_mask=gradtx.by_path("tok_embed", "pos_embed", "lm_head/*")),
  }
  soap = getattr(gradtx, "soap", None)
  out["SOAP (lr 3e-3)"] = soap(schedule(3e-3, steps)) if soap else None
  shampoo = getattr(gradtx, "shampoo", None)
  out["Shampoo (lr 3e-3, Adam grafting)"] = (
      shampoo(schedule(3e-3, steps), weight_decay=0.01, mask=None) if shampoo else None)
  out["schedule-free AdamW (lr 3e-3)"] = gradtx.contrib.schedule_free_adamw(
      3e-3, warmup_steps=warmup, b2=0.99, weight_decay=0.01)
  return out


def eval_params(name: str, state: Any, params: Any) -> Any:
  """Where the model is evaluated: the averaged iterate for schedule-free, else `params`."""
  if name.startswith("schedule-free"):
    return gradtx.contrib.schedule_free_eval_params(state, params)
  return params


# --- training --------------------------------------------------------------------------

class Task(NamedTuple):
  cfg: Config
  train: jax.Array
  val_inputs: jax.Array
  val_targets: jax.Array
  starts: jax.Array  # (steps, batch)
  params0: dict


def make_task(cfg: Config, seed: int, max_bytes: int | None = None) -> tuple[Task, list[str]]:
  train, val, used = load_corpus(max_bytes)
  starts = batch_starts(len(train), cfg.context, cfg.steps, cfg.batch, seed)
  val_starts = np.linspace(0, len(val) - cfg.context - 2, cfg.val_windows).astype(np.int32)
  vx, vy = windows(jnp.asarray(val), jnp.asarray(val_starts), cfg.context)
  task = Task(cfg, jnp.asarray(train), vx, vy, jnp.asarray(starts),
              init_params(jax.random.PRNGKey(seed), cfg))
  return task, used


def make_chunk(task: Task, tx: gradtx.GradientTransformation) -> Callable:
  """`chunk(params, opt_state, starts) -> (params, opt_state, losses)`: a lax.scan of
  training steps over the (k, batch) window starts."""
  cfg = task.cfg
  grad_fn = jax.value_and_grad(loss_fn)

  def step(carry, starts):
    params, opt_state = carry
    x, y = windows(task.train, starts, cfg.context)
    loss, grads = grad_fn(params, x, y, cfg.n_heads)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (gradtx.apply_updates(params, updates), opt_state), loss

  def chunk(params, opt_state, starts):
    (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), starts)
    return params, opt_state, losses

  return chunk


def val_loss(task: Task, params: dict) -> jax.Array:
  return loss_fn(params, task.val_inputs, task.val_targets, task.cfg.n_heads)


def run(task: Task, name: str, tx: gradtx.GradientTransformation, progress: bool) -> dict:
  """Trains in chunks of `eval_every` steps; times each chunk (after compiling it ahead)
  and evaluates the validation loss between chunks (not timed)."""
  cfg = task.cfg
  k = cfg.eval_every
  n_chunks = cfg.steps // k
  params, opt_state = task.params0, tx.init(task.params0)
  t = time.perf_counter()
  chunk = jax.jit(make_chunk(task, tx)).lower(params, opt_state, task.starts[:k]).compile()
  evaluate = jax.jit(lambda s, p: val_loss(task, eval_params(name, s, p)))
  evaluate(opt_state, params).block_until_ready()
  compile_s = time.perf_counter() - t
  steps, wall, losses = [0], [0.0], [float(evaluate(opt_state, params))]
  with tqdm(total=n_chunks * k, desc=f"{name.split(' (')[0]:>19}", unit="step",
            disable=not progress, dynamic_ncols=True) as bar:
    for c in range(n_chunks):
      t = time.perf_counter()
      params, opt_state, _ = chunk(params, opt_state, task.starts[c * k:(c + 1) * k])
      jax.block_until_ready(params)
      wall.append(wall[-1] + time.perf_counter() - t)
      steps.append((c + 1) * k)
      losses.append(float(evaluate(opt_state, params)))
      bar.update(k)
      bar.set_postfix(val=f"{losses[-1]:.3f}")
  return {"steps": np.asarray(steps), "wall": np.asarray(wall), "val": np.asarray(losses),
          "compile_s": compile_s}


def sweep(task: Task, lrs: np.ndarray) -> tuple[dict, float]:
  """AdamW at each peak learning rate of `lrs`, all in one jit(vmap(train)) call: the
  optimizer is built from the traced lr inside `train`. Returns the validation curves
  (len(lrs), chunks + 1) and the seconds of the call (compile included)."""
  cfg = task.cfg
  k = cfg.eval_every
  n_chunks = cfg.steps // k
  chunk_starts = task.starts[: n_chunks * k].reshape(n_chunks, k, cfg.batch)

  def train(lr, params0, val_inputs, val_targets):
    # params and validation data are arguments, not closed-over constants: XLA would
    # otherwise constant-fold the evaluation of the initial params at compile time.
    tk = task._replace(params0=params0, val_inputs=val_inputs, val_targets=val_targets)
    tx = adamw(lr, cfg.steps)
    chunk = make_chunk(tk, tx)

    def outer(carry, starts):
      params, opt_state, _ = chunk(*carry, starts)
      return (params, opt_state), val_loss(tk, params)

    carry = (params0, tx.init(params0))
    _, curve = jax.lax.scan(outer, carry, chunk_starts)
    return jnp.concatenate([val_loss(tk, params0)[None], curve])

  t = time.perf_counter()
  sweep_fn = jax.jit(jax.vmap(train, in_axes=(0, None, None, None)))
  curves = jax.block_until_ready(sweep_fn(jnp.asarray(lrs, jnp.float32), task.params0,
                                          task.val_inputs, task.val_targets))
  return {"steps": np.arange(n_chunks + 1) * k, "val": np.asarray(curves)}, \
      time.perf_counter() - t


# --- plot and table ----------------------------------------------------------------------

def plot(path: str, results: dict, missing: list[str], sw: dict, lrs: np.ndarray,
         chosen_lr: float, title: str) -> None:
  plt = pyplot()
  fig, axes = plt.subplots(1, 3, figsize=(17, 5.2))
  finals = [r["val"][-1] for r in results.values() if np.isfinite(r["val"][-1])]
  lo = min(finals + [np.nanmin(sw["val"])]) if finals else 1.0
  start = next(iter(results.values()))["val"][0] if results else 6.0
  ylim = (0.95 * lo, min(start * 1.05, 6.0))
  for name, r in results.items():
    for ax, x in ((axes[0], r["steps"]), (axes[1], r["wall"])):
      ax.plot(x, r["val"], "-", lw=1.6, label=f"{name}: {r['val'][-1]:.3f}")
  for name in missing:
    axes[0].plot([], [], " ", label=f"{name.split(' (')[0]}: not available")
  for i, lr in enumerate(lrs):
    style = dict(lw=2.4, color="black") if np.isclose(lr, chosen_lr) else dict(lw=1.4)
    axes[2].plot(sw["steps"], sw["val"][i], "-", label=f"lr {lr:.0e}: {sw['val'][i, -1]:.3f}",
                 **style)
  axes[0].set_xlabel("step")
  axes[1].set_xlabel("training wall-clock (s; compiles and evaluations excluded)")
  axes[2].set_xlabel("step")
  axes[0].set_title("validation loss vs steps")
  axes[1].set_title("validation loss vs wall-clock")
  axes[2].set_title(f"AdamW peak-lr sweep: {len(lrs)} runs in one jit(vmap(train))")
  for ax in axes:
    ax.set_ylabel("validation cross-entropy (nats / byte)")
    ax.set_ylim(*ylim)
    ax.grid(True, alpha=0.3)
  axes[0].legend(loc="upper right", fontsize=8, title="final val loss", title_fontsize=8)
  axes[2].legend(loc="upper right", fontsize=8, title="final val loss (black: used above)",
                 title_fontsize=8)
  fig.suptitle(title, fontsize=11)
  save_figure(fig, path)


def table(results: dict, missing: list[str]) -> str:
  rows = ["| optimizer | final val loss | wall s | compile s |", "|---|---|---|---|"]
  for name, r in results.items():
    rows.append(f"| {name} | {r['val'][-1]:.4f} | {r['wall'][-1]:.2f} | {r['compile_s']:.2f} |")
  for name in missing:
    rows.append(f"| {name} | not available | - | - |")
  return "\n".join(rows)


# --- main ---------------------------------------------------------------------------------

def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=Config().steps, help="steps per optimizer")
  parser.add_argument("--quick", action="store_true",
                      help="tiny model, a handful of steps (CI smoke run)")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--no-progress", action="store_true", help="no tqdm bars")
  parser.add_argument("--out", default="out/tiny_lm.png")
  args = parser.parse_args()
  cfg = QUICK if args.quick else Config(steps=args.steps)
  cfg = cfg._replace(steps=max(cfg.steps // cfg.eval_every, 1) * cfg.eval_every)

  task, used = make_task(cfg, args.seed, max_bytes=200_000 if args.quick else None)
  n_params = sum(int(p.size) for p in jax.tree.leaves(task.params0))
  print(f"corpus: {len(used)} files of Python's standard library "
        f"({os.path.dirname(os.__file__)}), {len(task.train) + 0:,} train bytes; model: "
        f"d_model {cfg.d_model}, {cfg.n_layers} layers, {cfg.n_heads} heads, context "
        f"{cfg.context}, {n_params:,} parameters; {cfg.steps} steps of {cfg.batch} windows; "
        f"jax {jax.__version__} on {jax.default_backend()}")

  results, missing = {}, []
  for name, tx in optimizers(cfg.steps).items():
    if tx is None:
      missing.append(name)
      print(f"{name}: not available in this gradtx")
      continue
    results[name] = run(task, name, tx, progress=not args.no_progress)

  lrs = np.array([1e-3, 3e-3, 1e-2, 3e-2])
  sw, sweep_s = sweep(task, lrs)
  print(f"AdamW sweep over peak lr {', '.join(f'{lr:.0e}' for lr in lrs)}: one "
        f"jit(vmap(train)) call, {sweep_s:.1f} s including compile; final val losses "
        + ", ".join(f"{v:.4f}" for v in sw["val"][:, -1]))

  print(table(results, missing))
  title = (f"Byte-level GPT ({n_params / 1e3:.0f}k params, d {cfg.d_model}, {cfg.n_layers} "
           f"layers, context {cfg.context}) on {len(used)} stdlib .py files; same init and "
           f"batches; {cfg.steps} steps of {cfg.batch}")
  plot(args.out, results, missing, sw, lrs, 3e-3, title)
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
