"""add_noise draws same-shaped leaves in one batched generator call: the noise must stay
Optax's bit for bit, and the compiled RNG work must not grow with the number of leaves."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx


def _tree(n):
  rng = np.random.default_rng(0)
  f = lambda *shape: jnp.asarray(rng.normal(size=shape), jnp.float32)
  return {"w": [f(8, 4) for _ in range(n)], "b": [f(4), f(4)], "odd": f(5, 3)}


@pytest.mark.parametrize("key", [7, pytest.param(0, marks=pytest.mark.slow)])
def test_noise_bit_identical_to_optax(key):
  params = _tree(3)
  got, want = gradtx.add_noise(0.1, 0.55, key), optax.add_noise(0.1, 0.55, key)
  sg, so = got.init(params), want.init(params)
  ug_fn, uo_fn = jax.jit(got.update), jax.jit(want.update)
  for step in range(3):
    ug, sg = ug_fn(params, sg)
    uo, so = uo_fn(params, so)
    for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(ug), jax.tree.leaves(uo)):
      np.testing.assert_array_equal(np.asarray(x), np.asarray(y),
                                    err_msg=f"step {step + 1}, {jax.tree_util.keystr(path)}")


def _while_loops(n):
  params = _tree(n)
  tx = gradtx.add_noise(0.1, 0.55, 0)
  text = jax.jit(tx.update).lower(params, tx.init(params)).compile().as_text()
  return text.count(" while(")


def test_rng_loops_do_not_grow_with_leaves():
  # threefry lowers to a while loop per generator call: one per leaf signature, not per leaf
  assert _while_loops(6) == _while_loops(2)
