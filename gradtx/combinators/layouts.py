"""`flatten`: runs a transformation on all leaves joined into one vector."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradtx.core.protocol import GradientTransformation, as_transformation

__all__ = ["Flatten", "flatten"]


def _join(tree: Any) -> jax.Array:
  """All leaves, raveled and concatenated in tree order."""
  leaves = [jnp.asarray(x) for x in jax.tree.leaves(tree)]
  kinds = {bool(jnp.issubdtype(x.dtype, jnp.complexfloating)) for x in leaves}
  if len(kinds) > 1:
    raise TypeError(
      "flatten: the tree mixes complex and real leaves; joining them would "
      "make every leaf complex. Flatten the two kinds separately (e.g. with "
      "gradtx.partition)."
    )
  if not leaves:
    return jnp.zeros((0,))
  return jnp.concatenate([jnp.reshape(x, (-1,)) for x in leaves])


def _split(like: Any, flat: jax.Array) -> Any:
  """`flat` cut back into leaves shaped (and typed) like `like`'s."""
  leaves, treedef = jax.tree.flatten(like)
  ends = np.cumsum([np.size(x) for x in leaves])[:-1].tolist() if leaves else []
  parts = jnp.split(flat, ends) if leaves else []
  return treedef.unflatten(
    [jnp.reshape(p, np.shape(x)).astype(jnp.asarray(x).dtype) for p, x in zip(parts, leaves)]
  )


class Flatten(GradientTransformation):
  """`inner` applied to one vector holding every leaf (`concat(ravel(g_i))`), the
  result cut back into the leaves' shapes: fewer, larger kernels for a tree of many
  small leaves, at the cost of one copy. Leaves of different dtypes are joined in
  their common dtype and each update is cast back to its leaf's dtype."""

  inner: GradientTransformation

  def __post_init__(self):
    object.__setattr__(self, "inner", as_transformation(self.inner))

  def init(self, params):
    return self.inner.init(_join(params))

  def update(self, updates, state, params=None, **extra_args):
    flat_params = None if params is None else _join(params)
    flat, state = self.inner.update(_join(updates), state, flat_params, **extra_args)
    return _split(updates, flat), state


def flatten(inner: Any) -> Flatten:
  r"""Runs `inner` on the concatenation of all leaves.

  $$
  v = \operatorname{concat}_i \operatorname{ravel}(g_i), \qquad
  u = \operatorname{unravel}\big(\text{inner}(v)\big),
  $$

  the result cut back into the leaves' shapes: fewer, larger kernels for a tree of many
  small leaves, at the cost of one copy. Leaves of different dtypes are joined in their
  common dtype and each update is cast back to its leaf's dtype.

  Defaults: none (`inner` is required; Optax's `flatten`).
  """
  return Flatten(inner)
