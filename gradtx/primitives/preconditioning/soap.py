"""SOAP (Vyas et al. 2024, "SOAP: Improving and Stabilizing Shampoo using Adam"; reference
nikhilvyas/SOAP `soap.py`): Adam run in the eigenbasis of Shampoo's factors."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation
from gradtx.core.validate import check_same_structure
from gradtx.numerics.ops import (
  bias_correction,
  complement,
  compute_dtype,
  hyper,
  safe_increment,
  zero_count,
)
from gradtx.numerics.storage import check_state_dtype
from gradtx.primitives.preconditioning.factors import mode_product, mode_statistic
from gradtx.primitives.preconditioning.shampoo_groups import map_same_shape

__all__ = ["ScaleBySoap", "ScaleBySoapState", "scale_by_soap", "soap_merged_shape"]

_HIGHEST = lax.Precision.HIGHEST


class ScaleBySoapState(NamedTuple):
  """`count`: update calls done (the first only builds the eigenbasis). Per leaf: `mu` the
  first moment in the eigenbasis and `nu` the second moment (both shaped like the param),
  `gg` and `q`: a tuple per leaf with one `[d, d]` factor / eigenbasis per preconditioned
  dimension of the (merged) leaf and a 0-element array for a dimension without one."""

  count: jax.Array
  mu: Any
  nu: Any
  gg: Any
  q: Any


def soap_merged_shape(shape: tuple, max_precond_dim: int) -> tuple:
  """The reference's `merge_dims`: runs of consecutive dims merged while their product stays
  within `max_precond_dim`."""
  new, cur = [], 1
  for d in shape:
    if cur * d > max_precond_dim:
      if cur > 1:
        new.append(cur)
        cur = d
      else:
        new.append(d)
        cur = 1
    else:
      cur *= d
  if cur > 1 or not new:
    new.append(cur)
  return tuple(new)


class ScaleBySoap(GradientTransformation):
  """SOAP's direction (Vyas et al. 2024, Algorithm 3; reference `soap.py`).

  Per leaf, for each dimension `k` of size `<= max_precond_dim` (1-D leaves only with
  `precondition_1d`; with `merge_dims` on the reference's merged shape) a factor
  `GG_k = s GG_k + (1 - s) G_(k) G_(k)^T` (`s = shampoo_beta`, `-1` meaning `b2`) and an
  eigenbasis `Q_k`. With `G' = G x_k Q_k^T` (all k):
  `m = b1 m + (1 - b1) G'`, `v = b2 v + (1 - b2) G'^2`,
  `N = (m / (sqrt(v) + eps)) x_k Q_k` (`normalize_grads`: `N / (1e-30 + rms(N))`),
  `u = N sqrt(1 - b2^t) / (1 - b1^t)` (`correct_bias`; else `u = N`). After the step the
  factors take in `G`, and every `precondition_frequency` steps `Q_k` is refreshed by one
  power iteration and QR, `Q_k = qr(GG_k Q_k[:, order])` with the columns (and `v` along
  dimension `k`) sorted by the estimated eigenvalues `diag(Q_k^T GG_k Q_k)` descending;
  `m` is rotated into the new basis. As in the reference the first call only accumulates
  `GG` from `G` and sets `Q_k = eigh(GG_k)` (eigenvalues descending): its update is 0 and
  `t` starts counting at the second call.
  Defaults (reference): `b1=0.95`, `b2=0.95`, `shampoo_beta=-1`, `eps=1e-8`,
  `precondition_frequency=10`, `max_precond_dim=10000`, `merge_dims=False`,
  `precondition_1d=False`, `normalize_grads=False`, `correct_bias=True`.
  """

  b1: Any = 0.95
  b2: Any = 0.95
  shampoo_beta: Any = -1.0
  eps: Any = 1e-8
  precondition_frequency: int = static(default=10)
  max_precond_dim: int = static(default=10000)
  merge_dims: bool = static(default=False)
  precondition_1d: bool = static(default=False)
  normalize_grads: bool = static(default=False)
  correct_bias: bool = static(default=True)
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    owner = "scale_by_soap"
    _checks.decay_rate(owner, "b1", self.b1)
    _checks.decay_rate(owner, "b2", self.b2)
    _checks.check(
      owner,
      "shampoo_beta",
      self.shampoo_beta,
      lambda v: (v < 1) & ((v >= 0) | (v == -1)),
      "a value in [0, 1), or -1 for b2",
    )
    _checks.non_negative(owner, "eps", self.eps)
    _checks.positive_integer(owner, "precondition_frequency", self.precondition_frequency)
    _checks.positive_integer(owner, "max_precond_dim", self.max_precond_dim)
    check_state_dtype(owner, self.state_dtype)

  def _shape(self, shape: tuple) -> tuple:
    if len(shape) >= 2 and self.merge_dims:
      return soap_merged_shape(shape, self.max_precond_dim)
    return tuple(shape)

  def _has_factor(self, shape: tuple, d: int) -> bool:
    return d <= self.max_precond_dim and (len(shape) >= 2 or self.precondition_1d)

  def init(self, params):
    leaves, treedef = jax.tree.flatten(params)
    mu, nu, gg = [], [], []
    for p in leaves:
      p = jnp.asarray(p)
      dt = self.state_dtype or compute_dtype(p.dtype)
      shape = self._shape(p.shape)
      mu.append(jnp.zeros(p.shape, dt))
      nu.append(jnp.zeros(p.shape, dt))
      gg.append(tuple(jnp.zeros((d, d) if self._has_factor(shape, d) else (0,), dt) for d in shape))
    un = treedef.unflatten
    return ScaleBySoapState(zero_count(), un(mu), un(nu), un(gg), un(gg))

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    check_same_structure("the updates", updates, "the state's mu", state.mu)
    leaves, treedef = jax.tree.flatten(updates)
    leaves = [jnp.asarray(g) for g in leaves]
    mus, nus, ggs, qs = (treedef.flatten_up_to(x) for x in (state.mu, state.nu, state.gg, state.q))
    first = state.count == 0
    t = state.count  # Adam's step index, counted from the second call
    refresh = (t % self.precondition_frequency) == 0
    c1, c2 = bias_correction(self.b1, t), bias_correction(self.b2, t)
    gcs = [g.astype(compute_dtype(g.dtype)).reshape(self._shape(g.shape)) for g in leaves]
    gg_new = [self._statistics(gc, gg) for gc, gg in zip(gcs, ggs)]

    def cast(xs, refs):
      return [x.reshape(r.shape).astype(r.dtype) for x, r in zip(xs, refs)]

    def cast_tuples(xs, refs):
      return [tuple(a.astype(b.dtype) for a, b in zip(x, r)) for x, r in zip(xs, refs)]

    def init_all():  # the first call: eigenbases only (one batched eigh per shape group)
      bases = map_same_shape(lambda *xs: tuple(_eigenbasis(x) if x.size else x for x in xs), gg_new)
      return [jnp.zeros_like(g) for g in leaves], mus, nus, cast_tuples(bases, qs)

    def step_all():
      steps = [self._step(*a, c1, c2) for a in zip(gcs, mus, nus, qs)]
      kept = [(m, v, q) for (_, m, v), q in zip(steps, qs)]
      rotated = lax.cond(  # a refresh step: one batched power step + QR per shape group
        refresh,
        lambda: map_same_shape(_rotate, [(m, v, gg, q) for (m, v, q), gg in zip(kept, gg_new)]),
        lambda: kept,
      )
      ms, vs, qn = (list(c) for c in zip(*rotated))
      return cast([n for n, _, _ in steps], leaves), cast(ms, mus), cast(vs, nus), qn

    if not leaves:
      return updates, ScaleBySoapState(safe_increment(state.count), *state[1:])
    us, ms, vs, qn = lax.cond(first, init_all, step_all)
    return treedef.unflatten(us), ScaleBySoapState(
      safe_increment(state.count),
      treedef.unflatten(ms),
      treedef.unflatten(vs),
      treedef.unflatten(cast_tuples(gg_new, ggs)),
      treedef.unflatten(qn),
    )

  def _statistics(self, gc, gg):
    """`GG_k = s GG_k + (1 - s) G_(k) G_(k)^T` per factor, in the compute dtype."""
    cdt = gc.dtype
    s = jnp.where(
      hyper(self.shampoo_beta, cdt) < 0, hyper(self.b2, cdt), hyper(self.shampoo_beta, cdt)
    )
    return tuple(
      x if not x.size else s * x.astype(cdt) + (1 - s) * mode_statistic(gc, k)
      for k, x in enumerate(gg)
    )

  def _step(self, gc, mu, nu, q, c1, c2):
    """(direction, m, v) of one leaf, `m`, `v` in the eigenbasis, merged shape."""
    cdt, shape = gc.dtype, gc.shape
    qc = [None if not x.size else x.astype(cdt) for x in q]
    b1, b2 = hyper(self.b1, cdt), hyper(self.b2, cdt)
    gp = mode_product(gc, qc, transpose=True)
    m = b1 * mu.astype(cdt).reshape(shape) + complement(self.b1, cdt) * gp
    v = b2 * nu.astype(cdt).reshape(shape) + complement(self.b2, cdt) * gp * gp
    n = mode_product(m / (jnp.sqrt(v) + hyper(self.eps, cdt)), qc, transpose=False)
    if self.normalize_grads:
      n = n / (1e-30 + jnp.sqrt(jnp.mean(n * n)))
    if self.correct_bias:
      n = n * (jnp.sqrt(hyper(c2, cdt)) / hyper(c1, cdt))
    return n, m, v


def _rotate(m, v, gg, q):
  """A refresh: per factor, `Q_k = qr(GG_k Q_k[:, order])` with the columns (and `v` along
  dimension `k`) sorted by the estimated eigenvalues `diag(Q_k^T GG_k Q_k)` descending; `m`
  rotated from the old basis into the new one. Returns `(m, v, q)`."""
  qc = [None if not x.size else x.astype(m.dtype) for x in q]
  m_orig = mode_product(m, qc, transpose=False)
  new_q, v_sorted = [], v
  for k, (x, o) in enumerate(zip(gg, qc)):
    if o is None:
      new_q.append(None)
      continue
    est = jnp.einsum("ij,jk,ki->i", o.T, x, o, precision=_HIGHEST)
    order = jnp.argsort(-est)
    v_sorted = jnp.take(v_sorted, order, axis=k)
    new_q.append(jnp.linalg.qr(jnp.matmul(x, o[:, order], precision=_HIGHEST))[0])
  m_new = mode_product(m_orig, new_q, transpose=True)
  return m_new, v_sorted, tuple(q0 if o is None else o.astype(q0.dtype) for q0, o in zip(q, new_q))


def _eigenbasis(x: jax.Array) -> jax.Array:
  """Eigenvectors of `x + 1e-30 I`, eigenvalues descending (the reference's first basis)."""
  _, q = jnp.linalg.eigh(x + 1e-30 * jnp.eye(x.shape[0], dtype=x.dtype))
  return q[:, ::-1]


def scale_by_soap(
  b1: Any = 0.95,
  b2: Any = 0.95,
  shampoo_beta: Any = -1.0,
  eps: Any = 1e-8,
  precondition_frequency: int = 10,
  max_precond_dim: int = 10000,
  merge_dims: bool = False,
  precondition_1d: bool = False,
  normalize_grads: bool = False,
  correct_bias: bool = True,
  *,
  state_dtype: Any = None,
) -> ScaleBySoap:
  r"""SOAP's direction: Adam in Shampoo's eigenbasis (details: `ScaleBySoap`).

  Per dimension $k$ of a leaf (size at most `max_precond_dim`), a factor
  $GG_k \leftarrow s\, GG_k + (1 - s)\, G_{(k)} G_{(k)}^\top$ ($s$ = `shampoo_beta`, $-1$
  meaning $\beta_2$) and an eigenbasis $Q_k$; with $G' = G \times_k Q_k^\top$ (all $k$):

  $$ m_t = \beta_1 m_{t-1} + (1 - \beta_1) G', \quad
     v_t = \beta_2 v_{t-1} + (1 - \beta_2) G'^2, \quad
     u = \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t}
         \Big(\frac{m_t}{\sqrt{v_t} + \epsilon}\Big) \times_k Q_k $$

  (`correct_bias=False`: no factor). Every `precondition_frequency` steps
  $Q_k = \mathrm{qr}(GG_k Q_k)$ (one power iteration, columns sorted by the estimated
  eigenvalues); the first call sets $Q_k = \mathrm{eigh}(GG_k)$ and returns 0.

  Defaults: `b1=0.95`, `b2=0.95`, `shampoo_beta=-1`, `eps=1e-8`,
  `precondition_frequency=10`, `max_precond_dim=10000` (Vyas et al. 2024, the reference
  `soap.py`).
  """
  return ScaleBySoap(
    b1,
    b2,
    shampoo_beta,
    eps,
    precondition_frequency,
    max_precond_dim,
    merge_dims,
    precondition_1d,
    normalize_grads,
    correct_bias,
    state_dtype,
  )
