"""Low-precision optimizer state (`--state-dtype`): gradtx Adam/AdamW with a float32 vs a
low-precision state: state bytes, step time, and the effect on training accuracy."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import gradtx

# ------------------------------------------------------------------ accuracy problems


def _mlp_problem(seed: int = 0, n: int = 4096, d: int = 32, hidden: int = 32):
  """Teacher-student regression: y = teacher MLP(x) + noise; student MLP d-h-h-1, tanh, MSE."""
  rng = np.random.default_rng(seed)
  x = rng.standard_normal((n, d), dtype=np.float32)
  w1 = rng.standard_normal((d, 64), dtype=np.float32) / np.sqrt(d)
  w2 = rng.standard_normal((64, 1), dtype=np.float32) / np.sqrt(64)
  y = np.tanh(x @ w1) @ w2 + 0.05 * rng.standard_normal((n, 1), dtype=np.float32)

  def layer(i, o):
    return {"w": rng.standard_normal((i, o), dtype=np.float32) / np.sqrt(i),
            "b": np.zeros((o,), np.float32)}
  params = {"l1": layer(d, hidden), "l2": layer(hidden, hidden), "l3": layer(hidden, 1)}
  x, y = jnp.asarray(x), jnp.asarray(y)

  def loss(p):
    h = jnp.tanh(x @ p["l1"]["w"] + p["l1"]["b"])
    h = jnp.tanh(h @ p["l2"]["w"] + p["l2"]["b"])
    return jnp.mean(jnp.square(h @ p["l3"]["w"] + p["l3"]["b"] - y))
  return params, loss, 1e-3


def _logreg_problem(seed: int = 1, n: int = 2048, d: int = 128):
  """Binary logistic regression on linearly separable-ish Gaussian data (10% label noise)."""
  rng = np.random.default_rng(seed)
  x = rng.standard_normal((n, d), dtype=np.float32)
  w_true = rng.standard_normal((d,), dtype=np.float32)
  y = np.sign(x @ w_true + 1e-6)
  y = np.where(rng.random(n) < 0.1, -y, y).astype(np.float32)
  params = {"w": np.zeros((d,), np.float32), "b": np.zeros((), np.float32)}
  x, y = jnp.asarray(x), jnp.asarray(y)

  def loss(p):
    return jnp.mean(jax.nn.softplus(-y * (x @ p["w"] + p["b"])))
  return params, loss, 1e-2


PROBLEMS = {"mlp": _mlp_problem, "logreg": _logreg_problem}


def train(tx: Any, apply_updates: Any, params: Any, loss, steps: int) -> np.ndarray:
  """Full-batch training for `steps` steps under `lax.scan`; the loss before each step
  and after the last one."""
  params = jax.tree.map(jnp.asarray, params)

  @jax.jit
  def run(params):
    def body(carry, _):
      p, s = carry
      value, grads = jax.value_and_grad(loss)(p)
      updates, s = tx.update(grads, s, p)
      return (apply_updates(p, updates), s), value
    (p, _), losses = jax.lax.scan(body, (params, tx.init(params)), None, length=steps)
    return jnp.append(losses, loss(p))
  return np.asarray(run(params), np.float64)


def _build(lib: Any, name: str, lr: float, **kw: Any) -> Any:
  return getattr(lib, name)(lr, **kw)  # adam / adamw: same call in gradtx and Optax


def accuracy_rows(opt_names, state_dtype: Any, steps: int) -> list[list[Any]]:
  """For each optimizer and problem: final loss with float32 vs `state_dtype` state, their
  difference, and Optax (float32) as an independent check of the float32 run."""
  import optax
  rows = []
  for name in opt_names:
    for prob_name, make in PROBLEMS.items():
      params, loss, lr = make()
      f32 = train(_build(gradtx, name, lr), gradtx.apply_updates, params, loss, steps)
      low = train(_build(gradtx, name, lr, state_dtype=state_dtype), gradtx.apply_updates,
                  params, loss, steps)
      ref = train(_build(optax, name, lr), optax.apply_updates, params, loss, steps)
      diff = low[-1] - f32[-1]
      rows.append([name, prob_name, steps, f32[0], f32[-1], low[-1], diff,
                   100 * diff / f32[-1], float(np.max(np.abs(low - f32))),
                   abs(ref[-1] - f32[-1])])
  return rows


ACCURACY_HEADERS = ["optimizer", "problem", "steps", "initial loss", "final f32",
                    "final low", "low - f32", "diff %", "max |diff| over run",
                    "|optax - gradtx| f32"]
