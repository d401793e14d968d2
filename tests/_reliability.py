"""Shared fixtures of the reliability suite (test_errors, test_validation, test_dtypes,
test_properties, test_robustness): the named optimizers with test settings, tree
helpers and small stepping utilities. Not a test module.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

import gradtx
from gradtx import optimizers as _optimizers

# name -> (factory name in gradtx.optimizers, keyword arguments used by the suite).
# "sgd+momentum" is sgd with state; every other key is the factory's own name.
NAMED: dict[str, tuple[str, dict[str, Any]]] = {
    "sgd": ("sgd", dict(learning_rate=0.1)),
    "sgd+momentum": ("sgd", dict(learning_rate=0.05, momentum=0.9)),
    "adagrad": ("adagrad", dict(learning_rate=0.1)),
    "rmsprop": ("rmsprop", dict(learning_rate=0.01)),
    "adam": ("adam", dict(learning_rate=0.01)),
    "adamw": ("adamw", dict(learning_rate=0.01, weight_decay=0.01)),
    "nadam": ("nadam", dict(learning_rate=0.01)),
    "nadamw": ("nadamw", dict(learning_rate=0.01, weight_decay=0.01)),
    "amsgrad": ("amsgrad", dict(learning_rate=0.01)),
    "adamax": ("adamax", dict(learning_rate=0.01)),
    "radam": ("radam", dict(learning_rate=0.01)),
    "adabelief": ("adabelief", dict(learning_rate=0.01)),
    "adadelta": ("adadelta", dict(learning_rate=1.0)),
    "lion": ("lion", dict(learning_rate=0.001)),
    "lamb": ("lamb", dict(learning_rate=0.01, weight_decay=0.01)),
    "lars": ("lars", dict(learning_rate=0.1, weight_decay=0.01)),
    "adafactor": ("adafactor", dict(learning_rate=0.01)),
}
NAMES = list(NAMED)

# The named optimizers added with the Optax surface, with the suite's settings. The property
# tests (tests/test_properties.py) run them all; the other reliability suites run NAMES.
EXTRA: dict[str, tuple[str, dict[str, Any]]] = {
    "sign_sgd": ("sign_sgd", dict(learning_rate=0.001)),
    "signum": ("signum", dict(learning_rate=0.001)),
    "rprop": ("rprop", dict(learning_rate=0.001)),
    "optimistic_gradient_descent": ("optimistic_gradient_descent", dict(learning_rate=0.01)),
    "optimistic_adam": ("optimistic_adam", dict(learning_rate=0.01)),
    "optimistic_adam_v2": ("optimistic_adam_v2", dict(learning_rate=0.01)),
    "yogi": ("yogi", dict(learning_rate=0.01)),
    "sm3": ("sm3", dict(learning_rate=0.01)),
    "novograd": ("novograd", dict(learning_rate=0.01)),
    "adan": ("adan", dict(learning_rate=0.01)),
    "adamaxw": ("adamaxw", dict(learning_rate=0.01)),
    "fromage": ("fromage", dict(learning_rate=0.01)),
    "noisy_sgd": ("noisy_sgd", dict(learning_rate=0.01, key=jax.random.key(0))),
    "shampoo": ("shampoo", dict(learning_rate=0.01)),
    "soap": ("soap", dict(learning_rate=0.01)),
    "mars": ("mars", dict(learning_rate=0.01)),
    "laprop": ("laprop", dict(learning_rate=0.01)),
    "kron": ("kron", dict(learning_rate=0.01)),
}
EXTRA = {k: v for k, v in EXTRA.items() if hasattr(_optimizers, v[0])}  # present here
# Named optimizers whose state is not shaped like the params by design: the property tests
# check their init for determinism and a fixed layout, and instead of "each per-parameter
# leaf has at most the param's rank" they check the layout documented here.
STATE_NOT_PARAMS_SHAPED = {
    "shampoo": "Kronecker statistics per leaf and block, [blocks_m, blocks_n, b, b] "
               "(docs/matrix_preconditioners.md)",
    "soap": "eigenbasis factors per leaf ([n, n] per matrix axis) next to params-shaped mu, nu",
    "kron": "one triangular Q factor per axis ([n, n], or [n] for diagonal axes)",
    "sm3": "one accumulator per axis (the cover sets of the SM3 paper: shape [n_i] per axis i)",
}
# Properties of these take 15-60 s each (compiles of eigh / QR / Newton loops): slow run.
SLOW_PROPERTIES = {"soap", "kron"}
ALL_NAMES = NAMES + list(EXTRA)

# Named optimizers whose update needs `params` (weight decay, trust ratio, parameter scale).
NEEDS_PARAMS = {"adamw", "nadamw", "lion", "lamb", "lars", "adadelta", "adafactor"}

# Optimizers whose state holds no per-parameter array.
STATELESS = {"sgd", "sign_sgd", "fromage", "noisy_sgd"}  # noisy_sgd: a count and a key


def _entry(name: str) -> tuple[str, dict[str, Any]]:
  return NAMED[name] if name in NAMED else EXTRA[name]


def factory(name: str) -> Callable[..., gradtx.GradientTransformation]:
  return getattr(_optimizers, _entry(name)[0])


def make(name: str, **overrides: Any) -> gradtx.GradientTransformation:
  """The named optimizer with the suite's settings, `overrides` applied."""
  return factory(name)(**{**_entry(name)[1], **overrides})


def uncompensated(tx: Any) -> gradtx.GradientTransformation:
  """A named optimizer's chain without its final `compensated_updates()` stage: the
  update as the optimizer computes it, before the low-precision-param compensation."""
  stages = tx.transformation().transforms
  assert type(stages[-1]).__name__ == "CompensatedUpdates", stages[-1]
  return gradtx.chain(*stages[:-1])


def step(tx, grads, state, params):
  """One update + apply_updates; params are always passed."""
  updates, state = tx.update(grads, state, params)
  return gradtx.apply_updates(params, updates), state, updates


def run(tx, params, grads_seq, jit: bool = False):
  """Applies `tx` for each gradient tree of `grads_seq`; returns params, state, updates."""
  fn = jax.jit(step) if jit else step
  state = tx.init(params)
  updates = None
  for g in grads_seq:
    params, state, updates = fn(tx, g, state, params)
  return params, state, updates


def leaves_with_paths(tree: Any) -> list[tuple[str, Any]]:
  return [(jax.tree_util.keystr(p), x) for p, x in jax.tree_util.tree_leaves_with_path(tree)]


def per_leaf_state(state: Any) -> list[jax.Array]:
  """State leaves that are arrays of rank >= 1 (not scalars such as counts)."""
  return [x for x in jax.tree.leaves(state) if jnp.ndim(x) > 0]


def _plain(x: Any) -> Any:
  """A typed PRNG key (noisy_sgd's state) as its raw uint32 data; other leaves unchanged."""
  if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
    return jax.random.key_data(x)
  return x


def as_np64(x: Any) -> np.ndarray:
  x = np.asarray(_plain(x))
  return x.astype(np.complex128 if np.iscomplexobj(x) else np.float64)


def all_finite(tree: Any) -> bool:
  return all(bool(np.all(np.isfinite(as_np64(x)))) for x in jax.tree.leaves(tree))


def assert_trees_close(a: Any, b: Any, rtol: float = 1e-6, atol: float = 1e-6,
                       err: str = "") -> None:
  la, ta = jax.tree.flatten(a)
  lb, tb = jax.tree.flatten(b)
  assert ta == tb, f"{err}: tree structures differ: {ta} vs {tb}"
  for (path, x), y in zip(leaves_with_paths(a), lb):
    assert np.shape(x) == np.shape(y), f"{err}: {path}: shapes {np.shape(x)} vs {np.shape(y)}"
    assert jnp.result_type(x) == jnp.result_type(y), f"{err}: {path}: dtypes differ"
    np.testing.assert_allclose(as_np64(x), as_np64(y), rtol=rtol, atol=atol,
                               err_msg=f"{err}: {path}")


def assert_trees_identical(a: Any, b: Any, err: str = "") -> None:
  """Same structure, shapes, dtypes and bits (NaN equal to NaN)."""
  la, ta = jax.tree.flatten(a)
  lb, tb = jax.tree.flatten(b)
  assert ta == tb, f"{err}: tree structures differ: {ta} vs {tb}"
  for (path, x), y in zip(leaves_with_paths(a), lb):
    x, y = np.asarray(_plain(x)), np.asarray(_plain(y))
    assert x.dtype == y.dtype and x.shape == y.shape, f"{err}: {path}: {x.dtype}{x.shape} vs {y.dtype}{y.shape}"
    assert x.tobytes() == y.tobytes(), f"{err}: {path}: bits differ: {x} vs {y}"


def exported_named_optimizers() -> set[str]:
  """Factory names of the named optimizers (gradtx.optimizers.__all__)."""
  return set(_optimizers.__all__)
