"""Shampoo (Gupta et al. 2018; Anil et al. 2020, google-research/distributed_shampoo;
Shi et al. 2023): a Kronecker-factored matrix preconditioner with blocking, cached inverse
roots, a diagonal fallback and layer-wise grafting."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation
from gradtx.core.validate import check_same_structure
from gradtx.numerics.ops import (
  abs_sq,
  bias_correction,
  complement,
  compute_dtype,
  hyper,
  map_leaves,
  safe_div,
  safe_increment,
  zero_count,
)
from gradtx.numerics.storage import check_state_dtype
from gradtx.primitives.preconditioning.factors import EMPTY, inverse_root
from gradtx.primitives.preconditioning.shampoo_groups import map_same_shape

__all__ = ["ScaleByShampoo", "ScaleByShampooState", "scale_by_shampoo"]

GRAFT_TYPES = ("adam", "rmsprop", "adagrad", "sgd")
_HIGHEST = lax.Precision.HIGHEST


class ScaleByShampooState(NamedTuple):
  """`count`: steps done. Per leaf (trees with the params' structure; a leaf without that
  factor holds a 0-element array): `stats_l`, `stats_r` the block statistics
  `[blocks_m, blocks_n, b, b]`, `roots_l`, `roots_r` their cached inverse roots (same
  layout), `graft_nu` the grafting second moment shaped like the param."""

  count: jax.Array
  stats_l: Any
  stats_r: Any
  roots_l: Any
  roots_r: Any
  graft_nu: Any


def _side(d: int, block_size: int, max_dim: int) -> tuple[bool, int, int]:
  """`(preconditioned, number of blocks, block length)` of one matrix side of length `d`."""
  if d > max_dim:
    return False, 1, d
  if d > block_size:
    return True, -(-d // block_size), block_size
  return True, 1, d


def leaf_layout(shape: tuple, block_size: int, max_dim: int):
  """`None` for a diagonal leaf (0-D, 1-D, or no side preconditioned); else the matrix view
  `(m, n)` (all leading dims merged) and the two sides as `_side` gives them."""
  if len(shape) < 2 or 0 in shape:
    return None
  m, n = math.prod(shape[:-1]), shape[-1]
  left, right = _side(m, block_size, max_dim), _side(n, block_size, max_dim)
  if not (left[0] or right[0]):
    return None
  return (m, n), left, right


def to_blocks(g: jax.Array, layout) -> jax.Array:
  """`g` as zero-padded blocks `[blocks_m, blocks_n, b_m, b_n]`."""
  (m, n), (_, nbm, bm), (_, nbn, bn) = layout
  g2 = g.reshape(m, n)
  g2 = jnp.pad(g2, ((0, nbm * bm - m), (0, nbn * bn - n)))
  return g2.reshape(nbm, bm, nbn, bn).transpose(0, 2, 1, 3)


def from_blocks(b: jax.Array, layout, shape: tuple) -> jax.Array:
  (m, n), (_, nbm, bm), (_, nbn, bn) = layout
  return b.transpose(0, 2, 1, 3).reshape(nbm * bm, nbn * bn)[:m, :n].reshape(shape)


def _zeros_stats(p: jax.Array, side, nbm: int, nbn: int, dtype) -> jax.Array:
  pre, _, b = side
  return jnp.zeros((nbm, nbn, b, b) if pre else EMPTY, dtype)


class ScaleByShampoo(GradientTransformation):
  """Shampoo's preconditioned direction, grafted onto a diagonal method's step norm.

  Each leaf of rank >= 2 is viewed as a matrix `G` (`m = prod(shape[:-1])`, `n = shape[-1]`)
  and cut into blocks of at most `block_size` per side (zero padded); per block
  `L_t = b2 L_{t-1} + w G G^T`, `R_t = b2 R_{t-1} + w G^T G` with `w = 1 - b2`, or
  `b2 = w = 1` (`beta2=1.0`: plain sums, as in the original Shampoo). Every
  `precondition_frequency` steps (step index `k = 0, f, 2f, ...`) the inverse roots
  `P_L = (L + eps lambda_max(L) I)^(-1/p)`, `P_R` likewise, are recomputed (`eps` is
  `matrix_eps`, `p = 2 * 2 = 4` unless `exponent_override`) by `eigh` (`root_method="eigh"`)
  or the coupled Newton iteration (`"newton"`); between refreshes the cached roots are used.
  The direction `D = P_L G P_R` is then grafted layer-wise, `u = D ||A|| / ||D||`, onto the
  grafting direction `A` of the leaf: `"adam"` `g / (sqrt(v / (1 - b2^t)) + graft_eps)`,
  `"rmsprop"` `g / (sqrt(v) + graft_eps)`, `"adagrad"` (`v` a sum), `"sgd"` `A = g`, with
  `v = b2 v + (1 - b2) g^2` (Shi et al. 2023's grafting configs; momentum comes after, in the
  chain). Before `start_preconditioning_step` (and for 0-D/1-D leaves, and sides longer than
  `max_preconditioner_dim`, which get no factor so a `20000 x 3` leaf stores only a `3 x 3`
  statistic) the update is `A` itself on that leaf / side.

  Defaults: `beta2=0.999`, `matrix_eps=1e-6`, `start_preconditioning_step=5` (the
  google-research reference); `graft_type="adam"`, `graft_eps=1e-8` (Shi et al. 2023's Adam grafting);
  `precondition_frequency=10`, `block_size=1024`, `max_preconditioner_dim=10000`.
  State layout: factors are stored per leaf and per block, `[blocks_m, blocks_n, b, b]`,
  so they can be sharded along the block axes (or replicated); the grafting moment is
  shaped like the param.
  """

  beta2: Any = 0.999
  matrix_eps: Any = 1e-6
  graft_eps: Any = 1e-8
  graft_type: str = static(default="adam")
  precondition_frequency: int = static(default=10)
  start_preconditioning_step: int = static(default=5)
  block_size: int = static(default=1024)
  max_preconditioner_dim: int = static(default=10000)
  root_method: str = static(default="eigh")
  exponent_override: int = static(default=0)
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    owner = "scale_by_shampoo"
    _checks.unit_interval(owner, "beta2", self.beta2)
    _checks.non_negative(owner, "matrix_eps", self.matrix_eps)
    _checks.non_negative(owner, "graft_eps", self.graft_eps)
    _checks.positive_integer(owner, "precondition_frequency", self.precondition_frequency)
    _checks.non_negative(owner, "start_preconditioning_step", self.start_preconditioning_step)
    _checks.positive_integer(owner, "block_size", self.block_size)
    _checks.positive_integer(owner, "max_preconditioner_dim", self.max_preconditioner_dim)
    _checks.non_negative(owner, "exponent_override", self.exponent_override)
    if self.graft_type not in GRAFT_TYPES:
      raise ValueError(
        f"{owner}: graft_type={self.graft_type!r} is invalid; expected one of {GRAFT_TYPES}."
      )
    if self.root_method not in ("eigh", "newton"):
      raise ValueError(
        f"{owner}: root_method={self.root_method!r} is invalid; expected 'eigh' or 'newton'."
      )
    check_state_dtype(owner, self.state_dtype)

  def _layout(self, shape):
    return leaf_layout(tuple(shape), self.block_size, self.max_preconditioner_dim)

  def init(self, params):
    def leaf(p):
      p = jnp.asarray(p)
      dt = self.state_dtype or compute_dtype(p.dtype)
      lay = self._layout(p.shape)
      if lay is None:
        l = r = jnp.zeros(EMPTY, dt)
      else:
        _, left, right = lay
        l, r = (_zeros_stats(p, s, left[1], right[1], dt) for s in (left, right))
      nu = jnp.zeros(EMPTY if self.graft_type == "sgd" else p.shape, dt)
      return l, r, l, r, nu

    stats_l, stats_r, roots_l, roots_r, nu = map_leaves(leaf, params, n_out=5)
    return ScaleByShampooState(zero_count(), stats_l, stats_r, roots_l, roots_r, nu)

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    k = state.count  # 0-based index of this step
    count = safe_increment(k)
    refresh = k % self.precondition_frequency == 0
    use_shampoo = k >= self.start_preconditioning_step
    c2 = bias_correction(self.beta2, count)
    p = self.exponent_override or 4
    mm = lambda a, b: jnp.matmul(a, b, precision=_HIGHEST)

    def statistics(g, l, r, nu):
      cdt = compute_dtype(g.dtype)
      gc = g.astype(cdt)
      b2 = hyper(self.beta2, cdt)
      w = jnp.where(b2 == 1, 1, complement(self.beta2, cdt)).astype(cdt)
      graft, nu_new = self._graft(gc, nu, b2, w, c2)
      lay = self._layout(g.shape)
      if lay is None:
        return graft, nu_new, None, l, r
      blocks = to_blocks(gc, lay)
      bt = jnp.swapaxes(blocks, -1, -2)
      l_new = b2 * l.astype(cdt) + w * mm(blocks, bt) if l.size else l
      r_new = b2 * r.astype(cdt) + w * mm(bt, blocks) if r.size else r
      return graft, nu_new, blocks, l_new, r_new

    def root(s, eps):
      if jax.default_backend() == "cpu" and math.prod(s.shape[:-2]) > 1:
        # one LAPACK call per block: jaxlib's batched CPU eigh can deadlock (shampoo_groups)
        flat = s.reshape((-1,) + s.shape[-2:])
        each = [inverse_root(x, p, eps, self.root_method) for x in flat]
        return jnp.stack(each).reshape(s.shape)
      return inverse_root(s, p, eps, self.root_method)

    def roots(l_new, r_new, pl, pr):  # stored in the roots' state dtype
      eps = hyper(self.matrix_eps, l_new.dtype if l_new.size else r_new.dtype)
      return tuple(
        root(s, eps).astype(t.dtype) if s.size else t for s, t in ((l_new, pl), (r_new, pr))
      )

    def direction(g, graft, blocks, pl, pr):
      if blocks is None:
        return graft.astype(g.dtype)
      d = blocks
      if pl.size:
        d = mm(pl.astype(d.dtype), d)
      if pr.size:
        d = mm(d, pr.astype(d.dtype))
      d = from_blocks(d, self._layout(g.shape), g.shape)
      scale = safe_div(jnp.linalg.norm(graft.ravel()), jnp.linalg.norm(d.ravel()))
      return jnp.where(use_shampoo, d * scale, graft).astype(g.dtype)

    trees = (state.stats_l, state.stats_r, state.roots_l, state.roots_r, state.graft_nu)
    for i, tree in enumerate(trees):
      check_same_structure("the updates", updates, f"state tree #{i + 1}", tree, shapes=False)
    leaves, treedef = jax.tree.flatten(updates)
    leaves = [jnp.asarray(g) for g in leaves]
    ls, rs, pls, prs, nus = (treedef.flatten_up_to(t) for t in trees)
    stats = [statistics(*a) for a in zip(leaves, ls, rs, nus)]
    # One conditional for the whole tree: on a refresh step the roots of each group of
    # same-shaped factors come from one batched eigh / Newton solve; otherwise none is run.
    pre = [i for i, st in enumerate(stats) if st[2] is not None]
    old = [(pls[i], prs[i]) for i in pre]
    new = lax.cond(
      refresh,
      lambda: map_same_shape(roots, [(*stats[i][3:], *old[j]) for j, i in enumerate(pre)]),
      lambda: old,
    )
    pls, prs = list(pls), list(prs)
    for i, (pl, pr) in zip(pre, new):
      pls[i], prs[i] = pl, pr
    us = [direction(g, st[0], st[2], pl, pr) for g, st, pl, pr in zip(leaves, stats, pls, prs)]
    cols = (
      us,
      [st[3].astype(l.dtype) for st, l in zip(stats, ls)],
      [st[4].astype(r.dtype) for st, r in zip(stats, rs)],
      pls,
      prs,
      [st[1] for st in stats],
    )
    return treedef.unflatten(us), ScaleByShampooState(
      count, *(treedef.unflatten(c) for c in cols[1:])
    )

  def _graft(self, gc, nu, b2, w, c2):
    """The grafting direction `A` and the new second moment."""
    if self.graft_type == "sgd":
      return gc, nu
    cdt = gc.dtype
    eps = hyper(self.graft_eps, cdt)
    if self.graft_type == "adagrad":
      v = nu.astype(cdt) + abs_sq(gc)
      return safe_div(gc, jnp.sqrt(v) + eps), v.astype(nu.dtype)
    v = b2 * nu.astype(cdt) + w * abs_sq(gc)
    v_hat = v
    if self.graft_type == "adam":
      v_hat = v / jnp.where(b2 == 1, 1, hyper(c2, cdt)).astype(cdt)
    return safe_div(gc, jnp.sqrt(v_hat) + eps), v.astype(nu.dtype)


def scale_by_shampoo(
  beta2: Any = 0.999,
  matrix_eps: Any = 1e-6,
  graft_eps: Any = 1e-8,
  *,
  graft_type: str = "adam",
  precondition_frequency: int = 10,
  start_preconditioning_step: int = 5,
  block_size: int = 1024,
  max_preconditioner_dim: int = 10000,
  root_method: str = "eigh",
  exponent_override: int = 0,
  state_dtype: Any = None,
) -> ScaleByShampoo:
  r"""Shampoo's grafted, block-wise Kronecker preconditioning (details: `ScaleByShampoo`).

  Per block $G$ of a leaf seen as a matrix (blocks of at most `block_size` per side):

  $$ L_t = \beta_2 L_{t-1} + (1 - \beta_2)\, G G^\top, \qquad
     R_t = \beta_2 R_{t-1} + (1 - \beta_2)\, G^\top G $$

  (plain sums when `beta2=1`); every `precondition_frequency` steps
  $P_L = (L + \epsilon\, \lambda_{\max}(L)\, I)^{-1/p}$ and $P_R$ likewise ($\epsilon$ =
  `matrix_eps`, $p = 4$ unless `exponent_override`), by `eigh` or a coupled Newton iteration;
  then $D = P_L G P_R$ is grafted onto the diagonal method's direction $A$ (`graft_type`;
  Adam: $A = g / (\sqrt{v_t / (1 - \beta_2^t)} + \epsilon_g)$):
  $u = D\, \lVert A \rVert / \lVert D \rVert$. Before `start_preconditioning_step`, and on
  0-D/1-D leaves or sides longer than `max_preconditioner_dim`, $u = A$.

  Defaults: `beta2=0.999`, `matrix_eps=1e-6`, `start_preconditioning_step=5` (the
  google-research reference); `graft_eps=1e-8` (Shi et al. 2023's Adam grafting);
  `precondition_frequency=10`, `block_size=1024`, `max_preconditioner_dim=10000`,
  `exponent_override=0` (no override: $p = 4$).
  """
  return ScaleByShampoo(
    beta2,
    matrix_eps,
    graft_eps,
    graft_type,
    precondition_frequency,
    start_preconditioning_step,
    block_size,
    max_preconditioner_dim,
    root_method,
    exponent_override,
    state_dtype,
  )
