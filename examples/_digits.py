"""scikit-learn's bundled digits (no download), shared by the examples."""

from __future__ import annotations

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
