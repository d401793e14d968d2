"""Projections onto a line, a hyperplane and a halfspace defined by a tree `a`
(Optax's `projection_vector`, `projection_hyperplane`, `projection_halfspace`)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx.tree_utils.arithmetic import tree_add_scale, tree_scale
from gradtx.tree_utils.reductions import tree_vdot

__all__ = ["projection_vector", "projection_hyperplane", "projection_halfspace"]


def projection_vector(x: Any, a: Any) -> Any:
  """The projection of `x` onto the line spanned by `a`: `(<x, a> / <a, a>) a`."""
  return tree_scale(tree_vdot(x, a) / tree_vdot(a, a), a)


def projection_hyperplane(x: Any, a: Any, b: jax.typing.ArrayLike) -> Any:
  """The projection onto `{y : <a, y> = b}`: `x + ((b - <a, x>) / <a, a>) a`."""
  return tree_add_scale(x, jnp.subtract(b, tree_vdot(x, a)) / tree_vdot(a, a), a)


def projection_halfspace(x: Any, a: Any, b: jax.typing.ArrayLike) -> Any:
  """The projection onto `{y : <a, y> <= b}`: `x + min((b - <a, x>) / <a, a>, 0) a`
  (`x` itself when it already satisfies the constraint)."""
  step = jnp.subtract(b, tree_vdot(x, a)) / tree_vdot(a, a)
  return tree_add_scale(x, jnp.minimum(step, 0), a)
