"""`init` with abstract params: `jax.ShapeDtypeStruct` leaves (Optax's sharding_test) and
`jax.eval_shape`, for Adafactor's factored RMS and the Optax surface's new optimizers:
the abstract state has the shapes and dtypes of the state built from real arrays."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import pytest

import gradtx

BUILDERS = {
    "adafactor": lambda: gradtx.adafactor(),
    "adafactor_min_dim_1": lambda: gradtx.adafactor(min_dim_size_to_factor=1),
    "scale_by_factored_rms": lambda: gradtx.scale_by_factored_rms(),
    "yogi": lambda: gradtx.yogi(1.0),
    "sm3": lambda: gradtx.sm3(1.0),
    "novograd": lambda: gradtx.novograd(1.0),
    "adan": lambda: gradtx.adan(1.0),
    "adamaxw": lambda: gradtx.adamaxw(1.0),
    "fromage": lambda: gradtx.fromage(1.0),
    "rprop": lambda: gradtx.rprop(1.0),
    "signum": lambda: gradtx.signum(1.0),
    "noisy_sgd": lambda: gradtx.noisy_sgd(1.0, key=0),
    "optimistic_gradient_descent": lambda: gradtx.optimistic_gradient_descent(1.0),
    "optimistic_adam_v2": lambda: gradtx.optimistic_adam_v2(1.0),
}


def _params():
  return {"w": jnp.ones((130, 140)), "b": jnp.ones((3,)), "t": jnp.ones((2, 4, 8), jnp.bfloat16)}


def _signature(tree):
  return jax.tree.map(lambda x: (tuple(x.shape), str(x.dtype)), tree)  # str: PRNG key dtypes


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_init_with_shape_dtype_structs(name):
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    tx = BUILDERS[name]()
  params = _params()
  abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), params)
  want = _signature(tx.init(params))
  assert _signature(tx.init(abstract)) == want
  assert _signature(jax.eval_shape(tx.init, params)) == want
  assert _signature(jax.eval_shape(tx.init, abstract)) == want


def test_factored_abstract_init_factors_the_matrix():
  abstract = jax.ShapeDtypeStruct((256, 130), jnp.float32)
  state = gradtx.scale_by_factored_rms().init(abstract)
  assert (state.v_row.shape, state.v_col.shape, state.v.shape) == ((130,), (256,), (1,))
  assert gradtx.scale_by_factored_rms().init(jax.ShapeDtypeStruct((2, 4, 8), jnp.float32)).v.shape \
      == (2, 4, 8)
