"""Sophia (Liu et al., 2023) and Hutchinson's estimator of the Hessian's diagonal."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.combinators.combine import chain
from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.named import named_optimizer
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import (
  bias_correction,
  cast,
  complement,
  compute_dtype,
  hyper,
  map_leaves,
  pick_dtype,
  safe_increment,
  zero_count,
  zeros_like,
)
from gradtx.primitives.decay.weight_decay import add_decayed_weights, require_params
from gradtx.primitives.scaling.scaling import scale_by_learning_rate
from gradtx.tree_utils.dtypes import tree_dtype

__all__ = [
  "HutchinsonState",
  "SophiaState",
  "HutchinsonEstimator",
  "ScaleBySophia",
  "hutchinson_estimator_diag_hessian",
  "scale_by_sophia",
  "sophia",
]


class HutchinsonState(NamedTuple):
  """`key`: the key of the next draw."""

  key: jax.Array


class SophiaState(NamedTuple):
  """Optax's fields: `count`, `mu` (momentum), `nu` (EMA of the Hessian diagonal),
  `hessian_fn_state`."""

  count: jax.Array
  mu: Any
  nu: Any
  hessian_fn_state: Any


class HutchinsonEstimator(GradientTransformation):
  """`u ⊙ (H u)` with `u` Rademacher signs (float32 draws cast to the params' lowest dtype),
  `H u` by forward-over-reverse; its mean is `diag(H)`. `update` ignores the gradient and
  needs `params` and `obj_fn=` (the loss of the params). `random_seed`: a PRNG key
  (default `PRNGKey(0)`, as Optax)."""

  random_seed: Any = None

  def init(self, params):
    del params
    return HutchinsonState(jax.random.PRNGKey(0) if self.random_seed is None else self.random_seed)

  def update(self, updates, state, params=None, obj_fn=None, **extra_args):
    del updates, extra_args
    require_params("hutchinson_estimator_diag_hessian", params)
    if obj_fn is None:
      raise ValueError("hutchinson_estimator_diag_hessian: update() needs obj_fn=.")
    key, sub = jax.random.split(state.key)
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(sub, len(leaves))
    dt = tree_dtype(params, "lowest")
    signs = treedef.unflatten(
      [jax.random.rademacher(k, p.shape, jnp.float32).astype(dt) for k, p in zip(keys, leaves)]
    )
    hvp = jax.jvp(jax.grad(obj_fn), (params,), (signs,))[1]
    return jax.tree.map(jnp.multiply, hvp, signs), HutchinsonState(key)


def hutchinson_estimator_diag_hessian(random_seed: Any = None) -> HutchinsonEstimator:
  r"""Hutchinson's diagonal-Hessian estimator (Hutchinson, 1990), for `sophia`.

  $$
  \hat h = u \odot (H u), \qquad u \sim \text{Rademacher}, \qquad
  \mathbb{E}[\hat h] = \operatorname{diag}(H),
  $$

  with $H u$ by forward-over-reverse differentiation of `obj_fn` (the loss of the params,
  passed to `update`; the gradient is ignored) and $u$ drawn in float32 and cast to the
  params' lowest dtype.

  Defaults: `random_seed=None`, meaning `PRNGKey(0)` (Optax's
  `contrib.hutchinson_estimator_diag_hessian`).
  """
  return HutchinsonEstimator(random_seed)


class ScaleBySophia(GradientTransformation):
  """Sophia's scaling; the update rule and defaults are on `scale_by_sophia`."""

  b1: Any = 0.965
  b2: Any = 0.99
  eps: Any = 1e-8
  gamma: Any = 0.01
  clip_threshold: Any = 1.0
  update_interval: Any = 10
  hessian_diagonal_fn: Any = None
  mu_dtype: Any = static(default=None)
  verbose: bool = static(default=False)
  print_win_rate_every_n_steps: Any = 0

  def __post_init__(self):
    _checks.decay_rate("scale_by_sophia", "b1", self.b1)
    _checks.decay_rate("scale_by_sophia", "b2", self.b2)
    _checks.non_negative("scale_by_sophia", "eps", self.eps)
    _checks.non_negative("scale_by_sophia", "gamma", self.gamma)
    _checks.positive_integer("scale_by_sophia", "update_interval", self.update_interval)
    if self.clip_threshold is not None:
      _checks.positive("scale_by_sophia", "clip_threshold", self.clip_threshold)

  def _hessian(self) -> Any:
    return (
      hutchinson_estimator_diag_hessian()
      if self.hessian_diagonal_fn is None
      else self.hessian_diagonal_fn
    )

  def init(self, params):
    return SophiaState(
      zero_count(),
      zeros_like(params, pick_dtype(self.mu_dtype)),
      zeros_like(params),
      self._hessian().init(params),
    )

  def update(self, updates, state, params=None, **hess_fn_kwargs):
    require_params("scale_by_sophia", params, updates)
    count = safe_increment(state.count)
    c1 = bias_correction(self.b1, count)
    clip = self.clip_threshold

    def leaf(g, m, h):
      cdt = compute_dtype(g.dtype)
      b1 = hyper(self.b1, cdt)
      m_new = b1 * m.astype(cdt) + complement(self.b1, cdt) * g.astype(cdt)
      u = (m_new / hyper(c1, cdt)) / jnp.maximum(
        hyper(self.gamma, cdt) * h.astype(cdt), hyper(self.eps, cdt)
      )
      if clip is not None:
        u = jnp.clip(u, -hyper(clip, cdt), hyper(clip, cdt))
      return cast(u, g.dtype), cast(m_new, m.dtype)

    u, mu = map_leaves(leaf, updates, state.mu, state.nu, n_out=2)
    if self.verbose and clip is not None:
      inside = sum(jnp.sum(jnp.abs(x) < clip) for x in jax.tree.leaves(u))
      size = sum(x.size for x in jax.tree.leaves(u))
      jax.lax.cond(
        count % self.print_win_rate_every_n_steps == 0,
        lambda: jax.debug.print("Sophia optimizer win rate: {}", inside / size),
        lambda: None,
      )
    hess = self._hessian()

    def refresh(hs, nu):
      diag, hs = hess.update(updates, hs, params, **hess_fn_kwargs)
      nu = jax.tree.map(lambda n, d: (self.b2 * n + (1 - self.b2) * d).astype(n.dtype), nu, diag)
      return hs, nu

    hs, nu = jax.lax.cond(
      state.count % self.update_interval == 0,
      refresh,
      lambda h, n: (h, n),
      state.hessian_fn_state,
      state.nu,
    )
    return u, SophiaState(count, mu, nu, hs)


def scale_by_sophia(
  b1: Any = 0.965,
  b2: Any = 0.99,
  eps: Any = 1e-8,
  gamma: Any = 0.01,
  clip_threshold: Any = 1.0,
  update_interval: Any = 10,
  hessian_diagonal_fn: Any = None,
  mu_dtype: Any = None,
  verbose: bool = False,
  print_win_rate_every_n_steps: Any = 0,
) -> ScaleBySophia:
  r"""Sophia's scaling (Liu et al., 2023).

  $$
  m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
  u_t = \operatorname{clip}\Big( \frac{m_t / (1 - \beta_1^t)}{\max(\gamma h_t, \epsilon)},
    \pm c \Big),
  $$

  with $h$ the EMA of the Hessian-diagonal estimates, refreshed before the steps
  $t = 1, 1 + k, 1 + 2k, \dots$ ($k$ = `update_interval`) as
  $h \leftarrow \beta_2 h + (1 - \beta_2)\, \hat h$, $\hat h$ from `hessian_diagonal_fn`
  (default `hutchinson_estimator_diag_hessian()`; after this step's update, as Optax), and
  $c$ = `clip_threshold`.

  Defaults: `b1=0.965`, `b2=0.99`, `eps=1e-8`, `gamma=0.01` (the paper's $\rho$),
  `clip_threshold=1`, `update_interval=10`, `print_win_rate_every_n_steps=0` (the paper;
  Optax's `contrib.scale_by_sophia`).
  """
  return ScaleBySophia(
    b1,
    b2,
    eps,
    gamma,
    clip_threshold,
    update_interval,
    hessian_diagonal_fn,
    mu_dtype,
    verbose,
    print_win_rate_every_n_steps,
  )


def _sophia(
  learning_rate: Any,
  b1: Any = 0.965,
  b2: Any = 0.99,
  eps: Any = 1e-8,
  weight_decay: Any = 1e-4,
  weight_decay_mask: Any = None,
  gamma: Any = 0.01,
  clip_threshold: Any = 1.0,
  update_interval: Any = 10,
  hessian_diagonal_fn: Any = None,
  mu_dtype: Any = None,
  verbose: bool = False,
  print_win_rate_every_n_steps: Any = 0,
) -> GradientTransformation:
  r"""Sophia (Liu et al., 2023), with decoupled weight decay (Optax's chain).

  $$
  m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
  w_t = w_{t-1} - \eta_t \left( \operatorname{clip}\Big( \frac{m_t / (1 - \beta_1^t)}
    {\max(\gamma h_t, \epsilon)}, \pm c \Big) + \lambda\, w_{t-1} \right),
  $$

  with $h_t$ the EMA (rate $\beta_2$) of the Hessian-diagonal estimates of
  `hessian_diagonal_fn` (`hutchinson_estimator_diag_hessian()` by default), refreshed
  every `update_interval` steps, $c$ = `clip_threshold` and $\lambda$ = `weight_decay`
  (on `weight_decay_mask`).

  Defaults: `b1=0.965`, `b2=0.99`, `eps=1e-8`, `weight_decay=1e-4`, `gamma=0.01` (the
  paper's $\rho$), `clip_threshold=1`, `update_interval=10`,
  `print_win_rate_every_n_steps=0` (the paper; Optax's `contrib.sophia`).

  Args:
    learning_rate: $\eta$, a number or a schedule.
    b1: $\beta_1$, the decay of the momentum.
    b2: $\beta_2$, the decay of the Hessian-diagonal EMA.
    eps: $\epsilon$, the floor of the denominator.
    weight_decay: $\lambda$.
    weight_decay_mask: the leaves decayed; all by default.
    gamma: $\gamma$ (the paper's $\rho$).
    clip_threshold: $c$.
    update_interval: the steps between Hessian estimates.
    hessian_diagonal_fn: the estimator (default `hutchinson_estimator_diag_hessian()`).
    mu_dtype: dtype of the momentum.
    verbose: print the clipping win rate.
    print_win_rate_every_n_steps: how often to print it (0: never).
  """
  return chain(
    scale_by_sophia(
      b1,
      b2,
      eps,
      gamma,
      clip_threshold,
      update_interval,
      hessian_diagonal_fn,
      mu_dtype,
      verbose,
      print_win_rate_every_n_steps,
    ),
    add_decayed_weights(weight_decay, weight_decay_mask),
    scale_by_learning_rate(learning_rate),
  )


sophia = named_optimizer(
  _sophia, static_args=("update_interval", "clip_threshold", "print_win_rate_every_n_steps")
)
