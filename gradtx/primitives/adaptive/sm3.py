"""SM3: adaptive scaling with one accumulator per axis (memory-efficient AdaGrad)."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.core  # `jax.core.Tracer`: jax imports the submodule but does not export it
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation
from gradtx.core.validate import TreeMismatchError, check_arrays, check_same_structure
from gradtx.numerics.ops import (
  abs_sq,
  complement,
  compute_dtype,
  hyper,
  real_dtype,
  state_dtype,
  zeros_like,
)

__all__ = ["ScaleBySM3", "ScaleBySM3State", "scale_by_sm3"]


class ScaleBySM3State(NamedTuple):
  """Optax's layout: `mu`, per leaf a list with one accumulator vector per axis (the
  whole accumulator for a vector); `nu`: the momentum, shaped like the params."""

  mu: Any
  nu: Any


def _axis_shape(shape: tuple[int, ...], axis: int) -> list[int]:
  """`shape` with every axis but `axis` set to 1 (a cover set broadcast back)."""
  return [n if i == axis else 1 for i, n in enumerate(shape)]


class ScaleBySM3(GradientTransformation):
  """SM3's scaling; the update rule and defaults are on `scale_by_sm3`. A scalar leaf
  (which Optax rejects) keeps one accumulator of shape `()`."""

  b1: Any = 0.9
  b2: Any = 1.0
  eps: Any = 1e-8
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    _checks.decay_rate("scale_by_sm3", "b1", self.b1)
    _checks.unit_interval("scale_by_sm3", "b2", self.b2)
    _checks.non_negative("scale_by_sm3", "eps", self.eps)

  def init(self, params):
    check_arrays(params, "params", inexact=True)
    for path, p in jax.tree_util.tree_leaves_with_path(params):
      if jnp.iscomplexobj(p):
        raise TypeError(
          f"scale_by_sm3: params leaf {jax.tree_util.keystr(path)} is complex; "
          "SM3 supports real parameters only."
        )

    def accumulators(p):
      dt = state_dtype(p.dtype, self.state_dtype)
      if p.ndim == 0:
        return [jnp.zeros((), dt)]
      return [jnp.zeros((n,), dt) for n in p.shape]

    return ScaleBySM3State(jax.tree.map(accumulators, params), zeros_like(params, self.state_dtype))

  def _check(self, updates: Any, state: ScaleBySM3State) -> None:
    check_same_structure("the updates", updates, "the state's nu", state.nu)
    mus = jax.tree.structure(updates).flatten_up_to(state.mu)
    for (path, g), mu in zip(jax.tree_util.tree_leaves_with_path(updates), mus):
      want = [()] if g.ndim == 0 else [(n,) for n in g.shape]
      if [tuple(jnp.shape(a)) for a in mu] != want:
        raise TreeMismatchError(
          f"leaf {jax.tree_util.keystr(path)} has shape {tuple(g.shape)} in the updates, but "
          f"its accumulators in the state have shapes {[tuple(jnp.shape(a)) for a in mu]}: "
          f"expected {want}."
        )

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    self._check(updates, state)

    def leaf(g, mu, m):
      cdt = compute_dtype(g.dtype)
      rdt = real_dtype(cdt)
      gc = g.astype(cdt)
      if g.ndim < 2:
        previous = mu[0].astype(rdt)
      else:
        previous = functools.reduce(
          jnp.minimum,
          [jnp.reshape(a.astype(rdt), _axis_shape(g.shape, i)) for i, a in enumerate(mu)],
        )
      b2 = hyper(self.b2, cdt)
      new_weight = jnp.where(b2 == 1, 1, complement(self.b2, cdt))  # b2 = 1: a plain sum
      acc = b2 * previous + new_weight * abs_sq(gc)
      scaled = gc * jnp.where(acc > 0, jax.lax.rsqrt(acc + hyper(self.eps, cdt)), 0.0)
      m_new = hyper(self.b1, cdt) * m.astype(cdt) + complement(self.b1, cdt) * scaled
      if g.ndim < 2:
        new_mu = [acc.astype(mu[0].dtype)]
      else:
        axes = range(g.ndim)
        new_mu = [
          jnp.max(acc, axis=tuple(j for j in axes if j != i)).astype(a.dtype)
          for i, a in zip(axes, mu)
        ]
      return m_new.astype(g.dtype), new_mu, m_new.astype(m.dtype)

    treedef = jax.tree.structure(updates)
    leaves = treedef.flatten_up_to(updates)
    if leaves and isinstance(leaves[0], jax.core.Tracer):
      leaf = jax.jit(leaf)  # traced once per leaf signature (as `map_leaves` does)
    outs = [
      leaf(g, mu, m)
      for g, mu, m in zip(leaves, treedef.flatten_up_to(state.mu), treedef.flatten_up_to(state.nu))
    ]
    u, mu, nu = (treedef.unflatten([o[i] for o in outs]) for i in range(3))
    return u, ScaleBySM3State(mu, nu)


def scale_by_sm3(
  b1: Any = 0.9, b2: Any = 1.0, eps: Any = 1e-8, *, state_dtype: Any = None
) -> ScaleBySM3:
  r"""SM3-II's scaling (Anil et al., 2019, "Memory-Efficient Adaptive Optimization",
  Algorithm 4).

  For a leaf of rank $k \ge 2$ with one accumulator $\mu_r$ per axis $r$ (the cover by
  rows, columns, ...), broadcast back to the leaf's shape:

  $$
  \begin{aligned}
  \nu_t &= \beta_2 \min_r \mu_{r,t-1} + (1 - \beta_2)\, |g_t|^2 \quad
    (\nu_t = \min_r \mu_{r,t-1} + |g_t|^2 \text{ for } \beta_2 = 1), \qquad
  \mu_{r,t} = \max_{\text{axes} \ne r} \nu_t, \\
  m_t &= \beta_1 m_{t-1} + (1 - \beta_1) \frac{g_t}{\sqrt{\nu_t + \epsilon}}, \qquad
  u_t = m_t,
  \end{aligned}
  $$

  ($u_t = 0$ where $\nu_t = 0$). A vector or scalar keeps the full accumulator. Real
  parameters only.

  Defaults: `b1=0.9`, `b2=1` (the paper's un-decayed sum), `eps=1e-8` (Optax's
  `scale_by_sm3`).

  Args:
    b1: $\beta_1$, the decay of the momentum.
    b2: $\beta_2$, the decay of the accumulators (1: sums).
    eps: $\epsilon$, added under the root.
    state_dtype: dtype of the state.

  Returns:
    A `ScaleBySM3` transformation with state `ScaleBySM3State(mu, nu)` in Optax's layout.
  """
  return ScaleBySM3(b1, b2, eps, state_dtype)
