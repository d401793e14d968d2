"""scikit-learn's bundled digits (no download) and the pure-JAX MLP shared by the examples."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def load_data(seed: int, images: bool = False):
  """Digits scaled to [0, 1], split 80/20 (stratified): `x_train, x_test, y_train, y_test`.

  `images=True` gives 8x8x1 images instead of 64-vectors.
  """
  digits = load_digits()
  x = digits.images[..., None] if images else digits.data
  x = (x / 16.0).astype(np.float32)
  y = digits.target.astype(np.int32)
  return train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)


def batches(x, y, batch_size: int, rng: np.random.Generator):
  """One shuffled epoch of full mini-batches (the ragged tail is dropped)."""
  order = rng.permutation(len(x))
  for i in range(len(x) // batch_size):
    idx = order[i * batch_size:(i + 1) * batch_size]
    yield x[idx], y[idx]


def init_mlp(key, sizes):
  """He-initialised dense layers: a list of {"w": (n_in, n_out), "b": (n_out,)}."""
  params = []
  for k, (n_in, n_out) in zip(jax.random.split(key, len(sizes) - 1), zip(sizes[:-1], sizes[1:])):
    params.append({"w": jax.random.normal(k, (n_in, n_out)) * jnp.sqrt(2.0 / n_in),
                   "b": jnp.zeros(n_out)})
  return params


def mlp(params, x):
  """ReLU hidden layers, linear output (logits)."""
  for layer in params[:-1]:
    x = jax.nn.relu(x @ layer["w"] + layer["b"])
  return x @ params[-1]["w"] + params[-1]["b"]


def loss_fn(params, x, y):
  """Mean softmax cross-entropy of the MLP."""
  logp = jax.nn.log_softmax(mlp(params, x))
  return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))
