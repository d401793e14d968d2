"""DoG (Ivgi et al., 2023) and DoWG (Khaled et al., 2023) with one global step size.

The layer-wise variant (LDoG) is `gradtx.scale_by_distance_over_gradients`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.combinators.combine import chain
from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.named import named_optimizer
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import cast, hyper, map_leaves
from gradtx.primitives.decay.weight_decay import add_decayed_weights, require_params
from gradtx.primitives.scaling.scaling import scale_by_learning_rate
from gradtx.tree_utils.dtypes import tree_dtype
from gradtx.tree_utils.reductions import tree_norm

__all__ = [
  "DoGState",
  "DoWGState",
  "ScaleByDog",
  "ScaleByDowg",
  "scale_by_dog",
  "scale_by_dowg",
  "dog",
  "dowg",
]

_INIT_KINDS = ("distance", "learning_rate", "heuristic")


class DoGState(NamedTuple):
  """Optax's fields: `is_init_step`, `init_params`, `max_dist` (`r_bar`),
  `sum_sq_norm_grads` (`G`)."""

  is_init_step: jax.Array
  init_params: Any
  max_dist: jax.Array
  sum_sq_norm_grads: jax.Array


class DoWGState(NamedTuple):
  """Optax's fields: `init_params`, `weighted_sq_norm_grads` (`v`), `estim_sq_dist`
  (`r_bar^2`)."""

  init_params: Any
  weighted_sq_norm_grads: jax.Array
  estim_sq_dist: jax.Array


def _copy(params: Any) -> Any:
  return jax.tree.map(lambda p: jnp.array(p, copy=True), params)


def _scaled(updates: Any, eta: jax.Array) -> Any:
  return map_leaves(lambda g: (cast(hyper(eta, g.dtype) * g, g.dtype),), updates, n_out=1)[0]


def _distance(params: Any, init_params: Any, squared: bool) -> jax.Array:
  return tree_norm(jax.tree.map(jnp.subtract, init_params, params), squared=squared)


class ScaleByDog(GradientTransformation):
  """DoG's step; the update rule and defaults are on `scale_by_dog`."""

  init_step: tuple = static(default=("heuristic", 1e-6))
  eps: Any = 1e-8

  def __post_init__(self):
    kind = self.init_step[0] if isinstance(self.init_step, tuple) else None
    if kind not in _INIT_KINDS or len(self.init_step) != 2:
      raise ValueError(
        f"scale_by_dog: init_step={self.init_step!r} is invalid; expected "
        f"(kind, value) with kind one of {_INIT_KINDS}."
      )
    _checks.non_negative("scale_by_dog", "init_step value", self.init_step[1])
    _checks.non_negative("scale_by_dog", "eps", self.eps)

  def init(self, params):
    dtype = tree_dtype(params, "lowest")
    kind, value = self.init_step
    r0 = {"distance": value, "learning_rate": 0.0}.get(kind)
    if r0 is None:
      r0 = value * (1 + tree_norm(params))
    return DoGState(
      jnp.asarray(True), _copy(params), jnp.asarray(r0, dtype), jnp.asarray(0.0, dtype)
    )

  def update(self, updates, state, params=None, **extra_args):
    del extra_args
    require_params("scale_by_dog", params, updates)
    max_dist = jnp.maximum(state.max_dist, _distance(params, state.init_params, False))
    sum_sq = state.sum_sq_norm_grads + tree_norm(updates, squared=True)
    eta = max_dist / jnp.sqrt(sum_sq + self.eps)
    kind, value = self.init_step
    if kind == "learning_rate":
      eta = jnp.where(state.is_init_step, value, eta)
    return _scaled(updates, eta), DoGState(
      jnp.asarray(False),
      state.init_params,
      max_dist.astype(state.max_dist.dtype),
      sum_sq.astype(state.sum_sq_norm_grads.dtype),
    )


class ScaleByDowg(GradientTransformation):
  """DoWG's step; the update rule and defaults are on `scale_by_dowg`."""

  init_estim_sq_dist: Any = None
  eps: Any = 1e-4

  def __post_init__(self):
    _checks.non_negative("scale_by_dowg", "init_estim_sq_dist", self.init_estim_sq_dist)
    _checks.non_negative("scale_by_dowg", "eps", self.eps)

  def init(self, params):
    dtype = tree_dtype(params, "lowest")
    r0 = self.eps if self.init_estim_sq_dist is None else self.init_estim_sq_dist
    return DoWGState(_copy(params), jnp.asarray(0.0, dtype), jnp.asarray(r0, dtype))

  def update(self, updates, state, params=None, **extra_args):
    del extra_args
    require_params("scale_by_dowg", params, updates)
    sq_dist = jnp.maximum(state.estim_sq_dist, _distance(params, state.init_params, True))
    weighted = sq_dist * tree_norm(updates, squared=True) + state.weighted_sq_norm_grads
    eta = sq_dist / (jnp.sqrt(weighted) + self.eps)
    return _scaled(updates, eta), DoWGState(
      state.init_params,
      weighted.astype(state.weighted_sq_norm_grads.dtype),
      sq_dist.astype(state.estim_sq_dist.dtype),
    )


def scale_by_dog(init_step: tuple = ("heuristic", 1e-6), eps: Any = 1e-8) -> ScaleByDog:
  r"""DoG's global step size times the gradient (Ivgi et al., 2023), norms over the whole
  tree.

  With $w_0$ the params given to `init` and $w$ those passed to this update:

  $$
  \bar r_t = \max(\bar r_{t-1}, \|w - w_0\|), \qquad G_t = G_{t-1} + \|g_t\|^2, \qquad
  u_t = \frac{\bar r_t}{\sqrt{G_t + \epsilon}}\, g_t,
  $$

  with $G_0 = 0$ and $\bar r_0$ from `init_step`: `("heuristic", a)`,
  $\bar r_0 = a (1 + \|w_0\|)$; `("distance", r)`, $\bar r_0 = r$;
  `("learning_rate", eta)`, the first step uses `eta` as its step size.

  Defaults: `init_step=("heuristic", 1e-6)`, `eps=1e-8` (Optax's `contrib.scale_by_dog`;
  the paper advises $a = 10^{-4}$ with batch norm).
  """
  return ScaleByDog(tuple(init_step), eps)


def scale_by_dowg(init_estim_sq_dist: Any = None, eps: Any = 1e-4) -> ScaleByDowg:
  r"""DoWG's global step size times the gradient (Khaled et al., 2023), norms over the
  whole tree.

  $$
  \bar r^2_t = \max(\bar r^2_{t-1}, \|w - w_0\|^2), \qquad
  v_t = v_{t-1} + \bar r^2_t \|g_t\|^2, \qquad
  u_t = \frac{\bar r^2_t}{\sqrt{v_t} + \epsilon}\, g_t,
  $$

  with $v_0 = 0$ and $\bar r^2_0$ = `init_estim_sq_dist` (default $\epsilon$).

  Defaults: `init_estim_sq_dist=None`, `eps=1e-4` (Optax's `contrib.scale_by_dowg`).
  """
  return ScaleByDowg(init_estim_sq_dist, eps)


def _decay(weight_decay: Any, mask: Any) -> tuple:
  return () if weight_decay is None else (add_decayed_weights(weight_decay, mask),)


def _dog(
  learning_rate: Any = 1.0,
  init_step: tuple = ("heuristic", 1e-6),
  eps: Any = 1e-8,
  weight_decay: Any = None,
  mask: Any | Callable[..., Any] | None = None,
) -> GradientTransformation:
  r"""DoG, "Distance over Gradients" (Ivgi et al., 2023), with norms over the whole tree.

  With $\tilde g_t = g_t + \lambda w_{t-1}$ ($\lambda$ = `weight_decay`, on `mask`; none
  by default) and $w_0$ the initial params:

  $$
  \bar r_t = \max(\bar r_{t-1}, \|w_{t-1} - w_0\|), \qquad
  G_t = G_{t-1} + \|\tilde g_t\|^2, \qquad
  w_t = w_{t-1} - \eta_t \frac{\bar r_t}{\sqrt{G_t + \epsilon}}\, \tilde g_t,
  $$

  with $G_0 = 0$ and $\bar r_0$ from `init_step`: `("heuristic", a)`,
  $\bar r_0 = a (1 + \|w_0\|)$; `("distance", r)`, $\bar r_0 = r$;
  `("learning_rate", eta)`, the first step uses `eta` as its step size.

  Defaults: `learning_rate=1`, `init_step=("heuristic", 1e-6)`, `eps=1e-8` (Optax's
  `contrib.dog`; the paper advises $a = 10^{-4}$ with batch norm).

  Args:
    learning_rate: $\eta$, a factor of DoG's step (number or schedule).
    init_step: how $\bar r_0$ is set, `("heuristic" | "distance" | "learning_rate", x)`.
    eps: $\epsilon$, added under the root.
    weight_decay: $\lambda$, or `None`.
    mask: the leaves decayed; all by default.
  """
  return chain(
    *_decay(weight_decay, mask), scale_by_dog(init_step, eps), scale_by_learning_rate(learning_rate)
  )


def _dowg(
  learning_rate: Any = 1.0,
  init_estim_sq_dist: Any = None,
  eps: Any = 1e-4,
  weight_decay: Any = None,
  mask: Any | Callable[..., Any] | None = None,
) -> GradientTransformation:
  r"""DoWG, "Distance over Weighted Gradients" (Khaled et al., 2023).

  With $\tilde g_t = g_t + \lambda w_{t-1}$ ($\lambda$ = `weight_decay`, none by default)
  and norms over the whole tree:

  $$
  \bar r^2_t = \max(\bar r^2_{t-1}, \|w_{t-1} - w_0\|^2), \qquad
  v_t = v_{t-1} + \bar r^2_t \|\tilde g_t\|^2, \qquad
  w_t = w_{t-1} - \eta_t \frac{\bar r^2_t}{\sqrt{v_t} + \epsilon}\, \tilde g_t,
  $$

  with $v_0 = 0$ and $\bar r^2_0$ = `init_estim_sq_dist` (default $\epsilon$).

  Defaults: `learning_rate=1`, `init_estim_sq_dist=None`, `eps=1e-4` (Optax's
  `contrib.dowg`).

  Args:
    learning_rate: $\eta$, a factor of DoWG's step (number or schedule).
    init_estim_sq_dist: $\bar r^2_0$, or `None` for $\epsilon$.
    eps: $\epsilon$, added to the root.
    weight_decay: $\lambda$, or `None`.
    mask: the leaves decayed; all by default.
  """
  return chain(
    *_decay(weight_decay, mask),
    scale_by_dowg(init_estim_sq_dist, eps),
    scale_by_learning_rate(learning_rate),
  )


dog = named_optimizer(_dog, static_args=("init_step",))
dowg = named_optimizer(_dowg)
