"""Run a real-valued transformation on complex parameters as (real, imaginary) pairs."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core.protocol import GradientTransformation

__all__ = [
  "SplitRealAndImaginaryArrays",
  "SplitRealAndImaginaryState",
  "SplitRealAndImaginary",
  "split_real_and_imaginary",
]


class SplitRealAndImaginaryArrays(NamedTuple):
  """A complex leaf seen as two real leaves."""

  real: jax.Array
  imaginary: jax.Array


class SplitRealAndImaginaryState(NamedTuple):
  """`inner_state`: the inner transformation's state over the split tree."""

  inner_state: Any


def _split(tree: Any) -> Any:
  return jax.tree.map(
    lambda x: SplitRealAndImaginaryArrays(jnp.real(x), jnp.imag(x)) if jnp.iscomplexobj(x) else x,
    tree,
  )


def _merge(tree: Any) -> Any:
  is_pair = lambda x: isinstance(x, SplitRealAndImaginaryArrays)
  return jax.tree.map(
    lambda x: jax.lax.complex(x.real, x.imaginary) if is_pair(x) else x, tree, is_leaf=is_pair
  )


class SplitRealAndImaginary(GradientTransformation):
  """`inner` sees each complex leaf `z` as the pair `(Re z, Im z)` and its update pair
  `(u_re, u_im)` becomes `u_re + i u_im`; real leaves pass through as they are."""

  inner: Any

  def init(self, params):
    return SplitRealAndImaginaryState(self.inner.init(_split(params)))

  def update(self, updates, state, params=None, **extra_args):
    params = None if params is None else _split(params)
    updates, inner_state = self.inner.update(
      _split(updates), state.inner_state, params, **extra_args
    )
    return _merge(updates), SplitRealAndImaginaryState(inner_state)


def split_real_and_imaginary(inner: Any) -> SplitRealAndImaginary:
  r"""Splits complex leaves into real pairs for `inner`.

  $$
  (u^{\mathrm{re}}, u^{\mathrm{im}}) = \text{inner}\big(\operatorname{Re} g,
    \operatorname{Im} g\big), \qquad u = u^{\mathrm{re}} + i\, u^{\mathrm{im}},
  $$

  for each complex leaf; real leaves pass through to `inner` as they are.

  Defaults: none (`inner` is required; Optax's `contrib.split_real_and_imaginary`).
  """
  return SplitRealAndImaginary(inner)
