"""`compensated_updates`: the last stage before `apply_updates` for low-precision params.

`apply_updates` rounds `p + u` to the param's dtype, so with bfloat16 params
(8 significant bits) every update under half an ulp of its param is lost, and
larger ones lose their low bits: Adam with `lr = 1e-2` on a quadratic stalls at
~2800x bfloat16's own rounding floor. This stage keeps what the rounding would
discard and hands on the *delta* that takes the low-precision param to the
right rounded value: `apply_updates(p, u)` then gives it exactly (the stage
forms `p + u` the way `apply_updates` does). Three methods:

* `"kahan"`: Kahan-compensated summation (Kahan, 1965; for bfloat16 training
  Zamirai et al., 2020, and torch-optimi's `kahan_sum`). A buffer `c` in the
  param dtype holds the part of the sum that rounding dropped:
  `y = u + c`, `p' = round(p + y)`, `c' = (p + y) - p'`. +2 bytes per bfloat16 param.
* `"stochastic"`: `p' = sround(p + u)`, rounded up with probability
  `(p + u - down) / (up - down)`, so `E[p'] = p + u` (Gupta et al., 2015). No
  per-parameter state: the random bits hash the element's index with the step
  count, the leaf's position and `seed`, so runs reproduce bit for bit.
* `"master"`: a float32 master copy `w` (Micikevicius et al., 2018, "Mixed
  precision training"): `w' = w + u`, `p' = round(w')`. +4 bytes per param.

`"auto"` (what the named optimizers use) picks `DEFAULT_METHOD` per dtype:
stochastic rounding for bfloat16 (no extra memory, no per-parameter state;
measured within 4x bfloat16's rounding floor on the quadratic and within 0.5
points of float32 on the digits MLP, `docs/numerics.md`), the float32 master copy
for float16 (the mixed-precision convention; float16's 10-bit fraction leaves
stochastic rounding at ~4x its floor, and a float16 Kahan buffer underflows
for small params). Leaves of float32 and wider (and complex)
params pass through untouched and keep no buffer (`None`). Without `params`
(`update(g, state)`) there is nothing to compensate against: the updates pass
through as they are.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import safe_increment, zero_count
from gradtx.numerics.rounding import element_bits, stochastic_round
from gradtx.numerics.storage import is_low_precision

__all__ = ["CompensatedUpdates", "CompensatedUpdatesState", "compensated_updates", "DEFAULT_METHOD"]

METHODS = ("auto", "kahan", "stochastic", "master")
DEFAULT_METHOD = {jnp.dtype(jnp.bfloat16): "stochastic", jnp.dtype(jnp.float16): "master"}


class CompensatedUpdatesState(NamedTuple):
  """`count`: steps done (seeds stochastic rounding); `buffer`: per low-precision leaf the
  Kahan compensation (param dtype) or the float32 master copy, else `None`."""

  count: jax.Array
  buffer: Any


def _is_none(x: Any) -> bool:
  return x is None


class CompensatedUpdates(GradientTransformation):
  """Updates that `apply_updates` applies to low-precision params without loss (see the
  module docstring for the three methods and their costs).

  For a low-precision leaf `p` and incoming update `u` the outgoing update is
  `round(target - p)`, `target` the compensated, rounded param; for other leaves `u`.
  """

  method: str = static(default="auto")
  seed: int = static(default=0)

  def __post_init__(self):
    if self.method not in METHODS:
      raise ValueError(
        f"compensated_updates: method={self.method!r} is invalid; expected one "
        f"of {', '.join(map(repr, METHODS))}."
      )
    if not isinstance(self.seed, int):
      raise TypeError(f"compensated_updates: seed={self.seed!r} is invalid; expected an int.")

  def resolve(self, dtype: Any) -> str | None:
    """The method used for params of `dtype` (None: passed through)."""
    if not is_low_precision(dtype):
      return None
    return (
      DEFAULT_METHOD.get(jnp.dtype(dtype), "stochastic") if self.method == "auto" else self.method
    )

  def init(self, params):
    def leaf(p):
      if p is None:
        return None
      method = self.resolve(jnp.result_type(p))
      if method == "kahan":
        return jnp.zeros_like(p)
      if method == "master":
        return jnp.asarray(p, jnp.float32)
      return None

    return CompensatedUpdatesState(zero_count(), jax.tree.map(leaf, params, is_leaf=_is_none))

  def update(self, updates, state, params=None, **extra_args):
    del extra_args
    if params is None:
      return updates, state
    count = safe_increment(state.count)
    u_leaves, treedef = jax.tree.flatten(updates, is_leaf=_is_none)
    p_leaves = treedef.flatten_up_to(params)
    b_leaves = treedef.flatten_up_to(state.buffer)
    outs = [
      self._leaf(i, u, p, b, count) for i, (u, p, b) in enumerate(zip(u_leaves, p_leaves, b_leaves))
    ]
    new_u = treedef.unflatten([o[0] for o in outs])
    new_b = treedef.unflatten([o[1] for o in outs])
    return new_u, CompensatedUpdatesState(count, new_b)

  def _leaf(self, index: int, u: Any, p: Any, buf: Any, count: jax.Array) -> tuple:
    if u is None or p is None:
      return u, buf
    method = self.resolve(jnp.result_type(p))
    if method is None:
      return u, buf
    dtype, f32 = jnp.result_type(p), jnp.float32
    pf, uf = jnp.asarray(p).astype(f32), jnp.asarray(u).astype(f32)
    if method == "kahan":
      exact = pf + (uf + buf.astype(f32))
      target = exact.astype(dtype)
    elif method == "master":
      exact = buf + uf
      target = exact.astype(dtype)
    else:
      exact = pf + uf
      target = stochastic_round(exact, dtype, element_bits(jnp.shape(p), count, index, self.seed))
    delta = (target.astype(f32) - pf).astype(jnp.result_type(u))
    if method == "kahan":  # what apply_updates will make of p + delta, and what it drops
      applied = jnp.asarray(p + delta).astype(dtype).astype(f32)
      buf = (exact - applied).astype(dtype)
    elif method == "master":
      buf = exact
    return delta, buf


def compensated_updates(method: str = "auto", *, seed: int = 0) -> CompensatedUpdates:
  r"""The final stage for low-precision params (see the module docstring for the costs).

  For a bfloat16/float16 leaf $p$ and incoming update $u$ the outgoing update is
  $\operatorname{round}(p' - p)$, where the new param $p'$ is, by `method`:

  $$
  \begin{aligned}
  \text{kahan:}\quad & y = u + c, \quad p' = \operatorname{round}(p + y), \quad
    c' = (p + y) - p', \\
  \text{stochastic:}\quad & p' = \operatorname{sround}(p + u), \quad
    \mathbb{E}[p'] = p + u, \\
  \text{master:}\quad & W' = W + u, \quad p' = \operatorname{round}(W'),
  \end{aligned}
  $$

  with $c$ the Kahan buffer (Kahan, 1965) and $W$ a float32 master copy (Micikevicius et
  al., 2018); stochastic rounding (Gupta et al., 2015) hashes the element's index, the step
  count, the leaf's position and `seed`. `"auto"` picks per dtype from `DEFAULT_METHOD`
  (stochastic for bfloat16, master for float16). Leaves of float32 and wider pass through.
  Put it last in a chain, right before `apply_updates`; the named optimizers end with
  `compensated_updates()`.

  Defaults: `method="auto"`, `seed=0` (gradtx's choice; Optax has no such stage).
  """
  return CompensatedUpdates(method, seed)
