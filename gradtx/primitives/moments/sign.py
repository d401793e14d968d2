"""The sign of the updates (signSGD, signum)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gradtx.core.protocol import StatelessTransformation
from gradtx.core.validate import check_arrays

__all__ = ["ScaleBySign", "scale_by_sign"]


class ScaleBySign(StatelessTransformation):
  """`u = sign(g)`, elementwise (Bernstein et al., 2018, signSGD); `g / |g|` for
  complex `g`, and 0 where `g` is 0."""

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    check_arrays(updates, "updates", inexact=True)
    return jax.tree.map(jnp.sign, updates), state


def scale_by_sign() -> ScaleBySign:
  r"""Replaces each update by its sign (Bernstein et al., 2018, signSGD).

  $$
  u_t = \operatorname{sign}(g_t),
  $$

  elementwise; $g_t / |g_t|$ for complex $g_t$, and 0 where $g_t = 0$.

  Defaults: none (no arguments).

  Returns:
    A stateless `ScaleBySign` transformation.
  """
  return ScaleBySign()
