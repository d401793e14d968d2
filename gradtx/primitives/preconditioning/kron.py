"""PSGD-Kron (Xi-Lin Li, "Preconditioned Stochastic Gradient Descent", 2015/2018; the Kron
variant of psgd_torch, as the JAX reference psgd_jax `kron.py` and kron-torch implement it):
a Kronecker-factored preconditioner `P = Q^H Q`, `Q = Q_1 (x) ... (x) Q_n`, fitted online by
gradient steps on PSGD's criterion, applied to the gradient's momentum."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx.core import checks as _checks
from gradtx.core.module import Module, static
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import (
  bias_correction,
  cast,
  complement,
  compute_dtype,
  hyper,
  pick_dtype,
  safe_increment,
  zero_count,
)
from gradtx.numerics.ops import state_dtype as _state_dtype
from gradtx.numerics.storage import check_state_dtype
from gradtx.primitives.scaling.scaling import evaluate

__all__ = [
  "KronUpdateProbability",
  "kron_update_probability",
  "ScaleByKron",
  "ScaleByKronState",
  "scale_by_kron",
]

_MEMORY_SAVE_MODES = (None, "one_diag", "all_diag")
_BALANCE_PROBABILITY = 0.01  # the reference rebalances the factors' scales on ~1% of updates
_RMS_CAP = 1.1  # the preconditioned gradient's RMS should be about 1; the reference caps it at 1.1


class KronUpdateProbability(Module):
  """PSGD-Kron's update-probability schedule; the rule and defaults are on
  `kron_update_probability`."""

  max_prob: Any = 1.0
  min_prob: Any = 0.03
  decay: Any = 0.001
  flat_start: Any = 500

  def __call__(self, count: Any) -> jax.Array:
    t = jnp.asarray(count, jnp.result_type(float))
    return jnp.minimum(
      jnp.maximum(self.max_prob * jnp.exp(-self.decay * (t - self.flat_start)), self.min_prob),
      self.max_prob,
    )


def kron_update_probability(
  max_prob: Any = 1.0, min_prob: Any = 0.03, decay: Any = 0.001, flat_start: Any = 500
) -> KronUpdateProbability:
  r"""PSGD-Kron's default preconditioner-update schedule, a function of the step count $n$.

  $$
  p(n) = \operatorname{clip}\big(p_{\max}\, e^{-\lambda (n - n_0)}, p_{\min}, p_{\max}\big),
  $$

  with $p_{\max}$ = `max_prob`, $p_{\min}$ = `min_prob`, $\lambda$ = `decay` and $n_0$ =
  `flat_start`: $p_{\max}$ for the first $n_0$ steps, then an exponential anneal to
  $p_{\min}$.

  Defaults: `max_prob=1`, `min_prob=0.03`, `decay=0.001`, `flat_start=500` (the reference
  code's `precond_update_prob_schedule`).
  """
  return KronUpdateProbability(max_prob, min_prob, decay, flat_start)


class ScaleByKronState(NamedTuple):
  """`count`: steps done; `mu`: the gradient's EMA, shaped like the params; `qs`: a tuple of
  trees with the params' structure, `qs[i]` holding each leaf's factor `Q_i` (an
  upper-triangular matrix, or a vector for a diagonal factor; a 0-d leaf has one factor of
  shape (1,); a 0-element array where a leaf has no such factor);
  `update_counter`: steps since the last preconditioner update."""

  count: jax.Array
  mu: Any
  qs: Any
  update_counter: jax.Array


def _triangular_dims(shape: tuple, max_size: int, min_ndim: int, mode: str | None) -> tuple:
  """Which dims get a triangular factor (the others a diagonal one), as the reference:
  diagonal when the dim has size 1 or over `max_size`, the leaf has fewer than `min_ndim`
  dims, or `memory_save_mode` says so ('one_diag': the largest dim, the last of equals)."""
  diag = [mode == "all_diag"] * len(shape)
  if mode == "one_diag" and shape:
    diag[int(np.argsort(shape)[::-1][0])] = True
  return tuple(
    not (d or n == 1 or n > max_size or len(shape) < min_ndim) for n, d in zip(shape, diag)
  )


def _along(x: jax.Array, axis: int, factor: jax.Array, triangular: bool) -> jax.Array:
  """`x` multiplied along `axis` by the matrix `factor`, or elementwise by the vector."""
  if triangular:
    return jnp.moveaxis(jnp.tensordot(factor, x, axes=([1], [axis])), 0, axis)
  return x * jnp.expand_dims(factor, tuple(a for a in range(x.ndim) if a != axis))


def _solve_along(x: jax.Array, axis: int, q: jax.Array, triangular: bool) -> jax.Array:
  """`x` multiplied along `axis` by `Q^-T` (triangular solve), or divided by the vector."""
  if not triangular:
    return _along(x, axis, 1 / q, False)
  moved = jnp.moveaxis(x, axis, 0)
  flat = moved.reshape(moved.shape[0], -1)
  solved = jax.scipy.linalg.solve_triangular(q.T, flat, lower=True)
  return jnp.moveaxis(solved.reshape(moved.shape), 0, axis)


def _gram(x: jax.Array, y: jax.Array, axis: int, triangular: bool) -> jax.Array:
  """`X_(axis) Y_(axis)^T` of the mode-`axis` unfoldings, or its diagonal."""
  xm = jnp.moveaxis(x, axis, 0).reshape(x.shape[axis], -1)
  ym = jnp.moveaxis(y, axis, 0).reshape(y.shape[axis], -1)
  return xm @ ym.T if triangular else jnp.sum(xm * ym, axis=1)


def _spectral_norm_lower_bound(a: jax.Array) -> jax.Array:
  """A cheap lower bound of `||a||_2` (Li's `norm_lower_bound`): one power-iteration step from
  the row or column of largest norm, after scaling by `max|a|`; 0 for a zero matrix."""
  scale = jnp.max(jnp.abs(a))
  b = a / jnp.where(scale > 0, scale, 1)
  sq = jnp.real(b * b.conj())
  cols, rows = jnp.sum(sq, axis=0), jnp.sum(sq, axis=1)
  unit = lambda v: v / jnp.where(jnp.linalg.norm(v) > 0, jnp.linalg.norm(v), 1)
  from_col = jnp.linalg.norm(unit(b[:, jnp.argmax(cols)].conj() @ b) @ b.conj().T)
  from_row = jnp.linalg.norm(b.conj().T @ unit(b @ b[jnp.argmax(rows), :].conj()))
  est = jnp.where(jnp.max(cols) > jnp.max(rows), from_col, from_row)
  return jnp.where(scale > 0, scale * est, scale)


def _tiny(x: jax.Array) -> jax.Array:
  return x + jnp.finfo(x.dtype).tiny


def _balance(qs: tuple) -> tuple:
  """The factors rescaled to equal `max|Q_i|` (their geometric mean); `P` is unchanged."""
  if len(qs) < 2:
    return qs
  norms = [jnp.max(jnp.abs(q)) for q in qs]
  gmean = jnp.prod(jnp.stack(norms)) ** (1 / len(qs))
  return tuple(q * (gmean / n) for q, n in zip(qs, norms))


def _fit_factors(qs: tuple, tri: tuple, g: jax.Array, v: jax.Array, lr: jax.Array) -> tuple:
  """One step of PSGD's fit of `Q` from the pair `(v, h = P v)`, here with `g` the (damped)
  momentum and `v` the probe: `A = Q g`, `B = Q^-H v` (along every dim);
  triangular `Q_i <- Q_i - lr triu(A A^H - B B^H)_i / ||A A^H + B B^H||_i Q_i`,
  diagonal `q_i <- q_i - lr (a - b) q_i / max|a + b|` (the Grams' diagonals)."""
  a, b = g, v.conj()
  for i, (q, t) in enumerate(zip(qs, tri)):
    a = _along(a, i, q, t)
    b = _solve_along(b, i, q, t)
  out = []
  for i, (q, t) in enumerate(zip(qs, tri)):
    term1, term2 = _gram(a, a.conj(), i, t), _gram(b.conj(), b, i, t)
    step = lr * (term1 - term2)
    if t:
      step = jnp.triu(step) / _tiny(_spectral_norm_lower_bound(term1 + term2))
      out.append(q - step @ q)
    else:
      out.append(q - step * q / _tiny(jnp.max(jnp.abs(term1 + term2))))
  return tuple(out)


def _precondition(qs: tuple, tri: tuple, g: jax.Array) -> jax.Array:
  """`P g = Q^H Q g`, factor by factor."""
  for i, (q, t) in enumerate(zip(qs, tri)):
    g = _along(g, i, q.conj().T @ q if t else (q.conj() * q), t)
  return g


class ScaleByKron(GradientTransformation):
  """PSGD-Kron's direction; the update rule and defaults are on `scale_by_kron`."""

  b1: Any = 0.9
  preconditioner_update_probability: Any = KronUpdateProbability()
  preconditioner_lr: Any = 0.1
  preconditioner_init_scale: Any = 1.0
  max_size_triangular: int = static(default=8192)
  min_ndim_triangular: int = static(default=2)
  memory_save_mode: str | None = static(default=None)
  momentum_into_precond_update: bool = static(default=True)
  mu_dtype: Any = static(default=None)
  precond_dtype: Any = static(default=None)
  seed: int = static(default=5318008)
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    owner = "scale_by_kron"
    _checks.decay_rate(owner, "b1", self.b1)
    _checks.positive(owner, "preconditioner_lr", self.preconditioner_lr)
    _checks.positive(owner, "preconditioner_init_scale", self.preconditioner_init_scale)
    _checks.positive_integer(owner, "max_size_triangular", self.max_size_triangular)
    _checks.non_negative(owner, "min_ndim_triangular", self.min_ndim_triangular)
    if not callable(self.preconditioner_update_probability):
      _checks.check(
        owner,
        "preconditioner_update_probability",
        self.preconditioner_update_probability,
        lambda p: (p > 0) & (p <= 1),
        "a probability in (0, 1]",
      )
    if self.memory_save_mode not in _MEMORY_SAVE_MODES:
      raise ValueError(
        f"{owner}: memory_save_mode={self.memory_save_mode!r} is invalid; "
        f"expected one of {_MEMORY_SAVE_MODES}."
      )
    check_state_dtype(owner, self.mu_dtype, "mu_dtype")
    check_state_dtype(owner, self.precond_dtype, "precond_dtype")
    check_state_dtype(owner, self.state_dtype)

  def _tri(self, shape: tuple) -> tuple:
    return _triangular_dims(
      shape or (1,), self.max_size_triangular, self.min_ndim_triangular, self.memory_save_mode
    )

  def init(self, params):
    def factors(p):
      p = jnp.asarray(p)
      if p.size == 0:
        return ()
      dt = _state_dtype(p.dtype, pick_dtype(self.precond_dtype, self.state_dtype))
      shape = p.shape or (1,)
      s = jnp.asarray(self.preconditioner_init_scale, dt) ** (1 / len(shape))
      return tuple(
        s * (jnp.eye(n, dtype=dt) if t else jnp.ones(n, dt))
        for n, t in zip(shape, self._tri(p.shape))
      )

    mu_dt = pick_dtype(self.mu_dtype, self.state_dtype)
    mu = jax.tree.map(
      lambda p: jnp.zeros(jnp.shape(p), _state_dtype(jnp.asarray(p).dtype, mu_dt)), params
    )
    leaves, treedef = jax.tree.flatten(params)
    per_leaf = [factors(p) for p in leaves]
    pad = lambda p: jnp.zeros(
      (0,) * min(1, jnp.ndim(p)),
      _state_dtype(jnp.asarray(p).dtype, pick_dtype(self.precond_dtype, self.state_dtype)),
    )
    n = max([len(f) for f in per_leaf], default=0)
    qs = tuple(
      treedef.unflatten([f[i] if i < len(f) else pad(p) for f, p in zip(per_leaf, leaves)])
      for i in range(n)
    )
    return ScaleByKronState(zero_count(), mu, qs, zero_count())

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    count = safe_increment(state.count)
    grads, treedef = jax.tree.flatten(updates)
    mus = treedef.flatten_up_to(state.mu)
    qs_flat = [treedef.flatten_up_to(t) for t in state.qs]
    qs = [
      tuple(qs_flat[i][j] for i in range(0 if g.size == 0 else len(self._tri(g.shape))))
      for j, g in enumerate(grads)
    ]
    c1 = bias_correction(self.b1, count)
    new_mu, m_hat = [], []
    for g, m in zip(grads, mus):
      cdt = compute_dtype(g.dtype)
      mn = hyper(self.b1, cdt) * m.astype(cdt) + complement(self.b1, cdt) * g.astype(cdt)
      new_mu.append(cast(mn, m.dtype))
      m_hat.append(mn / hyper(c1, cdt))
    fit_in = (
      m_hat
      if self.momentum_into_precond_update
      else [g.astype(compute_dtype(g.dtype)) for g in grads]
    )

    prob = evaluate(self.preconditioner_update_probability, count)
    counter = safe_increment(state.update_counter)
    do_update = counter >= 1 / prob
    counter = jnp.where(do_update, 0, counter)
    key = jax.random.fold_in(jax.random.PRNGKey(self.seed), state.count)
    _, fit_key = jax.random.split(key)
    qs = jax.lax.cond(do_update, self._fit, lambda k, q, f: list(q), fit_key, list(qs), fit_in)

    out = []
    for g, q, mh in zip(grads, qs, m_hat):
      if g.size == 0:
        out.append(jnp.zeros_like(g))
        continue
      u = _precondition(q, self._tri(g.shape), mh.reshape(g.shape or (1,))).reshape(g.shape)
      rms = jnp.sqrt(jnp.mean(jnp.real(u * u.conj())))
      out.append((u / jnp.maximum(1, rms / _RMS_CAP)).astype(g.dtype))
    new_qs = tuple(
      treedef.unflatten([q[i] if i < len(q) else qs_flat[i][j] for j, q in enumerate(qs)])
      for i in range(len(qs_flat))
    )
    return treedef.unflatten(out), ScaleByKronState(
      count, treedef.unflatten(new_mu), new_qs, counter
    )

  def _fit(self, key: jax.Array, qs: list, fit_in: list) -> list:
    """The preconditioner update: maybe rebalance, draw probes, one fitting step per leaf."""
    key, sub = jax.random.split(key)
    rebalance = jax.random.uniform(sub) < _BALANCE_PROBABILITY
    qs = jax.lax.cond(rebalance, lambda q: [_balance(f) for f in q], lambda q: list(q), list(qs))
    _, sub = jax.random.split(key)
    keys = jax.random.split(sub, len(fit_in))
    damping = np.sqrt(np.finfo(np.float32).eps)
    new = []
    for k, q, g in zip(keys, qs, fit_in):
      if g.size == 0:
        new.append(q)
        continue
      v = jax.random.normal(k, g.shape, g.dtype)
      g = g + hyper(damping, g.dtype) * jnp.mean(jnp.abs(g)) * v
      shape = g.shape or (1,)
      dt = jnp.promote_types(g.dtype, q[0].dtype)
      fitted = _fit_factors(
        tuple(f.astype(dt) for f in q),
        self._tri(g.shape),
        g.reshape(shape).astype(dt),
        v.reshape(shape).astype(dt),
        hyper(self.preconditioner_lr, dt),
      )
      new.append(tuple(cast(f, o.dtype) for f, o in zip(fitted, q)))
    return new


def scale_by_kron(
  b1: Any = 0.9,
  preconditioner_update_probability: Any = KronUpdateProbability(),
  max_size_triangular: int = 8192,
  min_ndim_triangular: int = 2,
  memory_save_mode: str | None = None,
  momentum_into_precond_update: bool = True,
  preconditioner_lr: Any = 0.1,
  preconditioner_init_scale: Any = 1.0,
  mu_dtype: Any = None,
  precond_dtype: Any = None,
  *,
  seed: int = 5318008,
  state_dtype: Any = None,
) -> ScaleByKron:
  r"""PSGD-Kron's scaling (Xi-Lin Li; reference code psgd_jax `kron.py`).

  $$
  m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad \hat m_t = \frac{m_t}{1 - \beta_1^t},
  \qquad u_t = P\, \hat m_t, \quad P = Q^H Q = \bigotimes_i Q_i^H Q_i, \qquad
  u_t \leftarrow \frac{u_t}{\max(1, \operatorname{rms}(u_t) / 1.1)}
  $$

  per leaf. Every $1 / p(t)$ steps (the reference's deterministic counter; $p$ =
  `preconditioner_update_probability`, a number in (0, 1] or a schedule of the step) the
  factors $Q_i$ take one PSGD fitting step of size `preconditioner_lr` from the damped
  momentum $\hat m_t + \sqrt{\epsilon_{32}}\, \operatorname{mean}|\hat m_t|\, v$, $v$
  standard normal, with $A = Q \hat m$, $B = Q^{-H} v$: triangular
  $Q_i \leftarrow Q_i - \eta_p \operatorname{triu}(A A^H - B B^H)_i / \|A A^H + B B^H\|_i\,
  Q_i$, diagonal factors likewise with the Grams' diagonals; on ~1% of those steps the
  factors are first rebalanced. Randomness is a key folded from `seed` and the step count,
  so runs reproduce. A dim gets a diagonal factor when it has size 1 or over
  `max_size_triangular`, the leaf has fewer than `min_ndim_triangular` dims, or by
  `memory_save_mode` (`'one_diag'`: the largest dim; `'all_diag'`: all); the factors start
  at $s^{1/\text{ndim}} I$, $s$ = `preconditioner_init_scale`.

  Defaults: `b1=0.9`, `preconditioner_update_probability=kron_update_probability()`,
  `max_size_triangular=8192`, `min_ndim_triangular=2`, `preconditioner_lr=0.1`,
  `preconditioner_init_scale=1`, `momentum_into_precond_update=True`, `seed=5318008` (the
  reference code's).
  """
  return ScaleByKron(
    b1,
    preconditioner_update_probability,
    preconditioner_lr,
    preconditioner_init_scale,
    max_size_triangular,
    min_ndim_triangular,
    memory_save_mode,
    momentum_into_precond_update,
    mu_dtype,
    precond_dtype,
    seed,
    state_dtype,
  )
