"""DP-SGD (Abadi et al., 2016): per-example clipping plus Gaussian noise."""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.combinators.combine import chain
from gradtx.core import checks as _checks
from gradtx.core.named import named_optimizer
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import cast, compute_dtype, hyper
from gradtx.primitives.clipping.per_example import per_example_global_norm_clip
from gradtx.primitives.moments.momentum import trace
from gradtx.primitives.scaling.scaling import scale_by_learning_rate

__all__ = [
  "DifferentiallyPrivateAggregateState",
  "DifferentiallyPrivateAggregate",
  "differentially_private_aggregate",
  "dpsgd",
]


def _as_key(key: Any) -> jax.Array:
  """A typed PRNG key from a typed key, a raw uint32 key or an integer seed."""
  if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    return key
  if isinstance(key, jax.Array) and key.ndim == 1:
    return jax.random.wrap_key_data(key)
  return jax.random.key(key)


class DifferentiallyPrivateAggregateState(NamedTuple):
  """`rng_key`: the key of the next step."""

  rng_key: jax.Array


class DifferentiallyPrivateAggregate(GradientTransformation):
  """DP-SGD's aggregation; the rule and defaults are on `differentially_private_aggregate`."""

  l2_norm_clip: Any
  noise_multiplier: Any
  key: Any = 0

  def __post_init__(self):
    _checks.positive("differentially_private_aggregate", "l2_norm_clip", self.l2_norm_clip)
    _checks.non_negative(
      "differentially_private_aggregate", "noise_multiplier", self.noise_multiplier
    )

  def init(self, params):
    del params
    return DifferentiallyPrivateAggregateState(_as_key(self.key))

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    leaves, treedef = jax.tree.flatten(updates)
    batch = leaves[0].shape[0]
    clipped, _ = per_example_global_norm_clip(leaves, self.l2_norm_clip)
    next_key, *keys = jax.random.split(state.rng_key, len(leaves) + 1)
    noises = [jax.random.normal(k, g.shape, g.dtype) for k, g in zip(keys, clipped)]
    std = self.l2_norm_clip * self.noise_multiplier

    def noised(g, z):
      cdt = compute_dtype(g.dtype)
      return cast((g.astype(cdt) + hyper(std, cdt) * z.astype(cdt)) / batch, g.dtype)

    out = [noised(g, z) for g, z in zip(clipped, noises)]
    return treedef.unflatten(out), DifferentiallyPrivateAggregateState(next_key)


def differentially_private_aggregate(
  l2_norm_clip: Any, noise_multiplier: Any, key: Any = None, *, seed: int | None = None
) -> DifferentiallyPrivateAggregate:
  r"""DP-SGD's aggregation (Abadi et al., 2016) of per-example gradients (batch axis first
  on every leaf, so first in a chain).

  $$
  u_t = \frac{1}{B} \Big( \sum_{i=1}^{B} g_i \min\Big(1, \frac{C}{\|g_i\|}\Big)
    + \mathcal N\big(0, (C \sigma)^2 I\big) \Big),
  $$

  with $C$ = `l2_norm_clip`, $\sigma$ = `noise_multiplier`, $B$ the batch size and
  $\|g_i\|$ the norm of example $i$'s gradient over all leaves. The key is split as Optax
  does (next key, then one key per leaf), so the noise is Optax's for the same key; `key`
  is a PRNG key or an integer seed (`seed=` is Optax's deprecated spelling).

  Defaults: none (`l2_norm_clip`, `noise_multiplier` required; `key=None` means seed 0,
  as Optax's `contrib.differentially_private_aggregate`).

  Args:
    l2_norm_clip: $C$, the per-example clipping norm.
    noise_multiplier: $\sigma$.
    key: a PRNG key or an integer seed.
    seed: Optax's deprecated spelling of an integer `key`.
  """
  if seed is not None:
    if key is not None:
      raise ValueError("differentially_private_aggregate: give only one of seed and key.")
    key = seed
  if key is None:
    warnings.warn("differentially_private_aggregate: no key given; using key 0.", stacklevel=2)
    key = 0
  return DifferentiallyPrivateAggregate(l2_norm_clip, noise_multiplier, key)


def _dpsgd(
  learning_rate: Any,
  l2_norm_clip: Any,
  noise_multiplier: Any,
  seed: int,
  momentum: Any = None,
  nesterov: bool = False,
) -> GradientTransformation:
  r"""DP-SGD (Abadi et al., 2016): the private aggregate $\bar g_t$
  (`differentially_private_aggregate`), optional momentum, then descent.

  $$
  v_t = \bar g_t + \mu\, v_{t-1}, \qquad w_t = w_{t-1} - \eta_t\, v_t
  $$

  ($v_t = \bar g_t$ without momentum; Nesterov with `nesterov=True`, as `trace`).

  Defaults: `momentum=None`, `nesterov=False` (Optax's `contrib.dpsgd`).

  Args:
    learning_rate: $\eta$, a number or a schedule.
    l2_norm_clip: $C$, the per-example clipping norm.
    noise_multiplier: $\sigma$.
    seed: the integer seed of the noise.
    momentum: $\mu$, or `None`.
    nesterov: Nesterov's form of the momentum.
  """
  stages = () if momentum is None else (trace(momentum, nesterov),)
  return chain(
    differentially_private_aggregate(l2_norm_clip, noise_multiplier, seed),
    *stages,
    scale_by_learning_rate(learning_rate),
  )


dpsgd = named_optimizer(_dpsgd, static_args=("seed",))
