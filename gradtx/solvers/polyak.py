"""Polyak step sizes: `scale_by_polyak` and `polyak_sgd` (Loizou et al., 2021)."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from gradtx.combinators.combine import chain
from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.named import named_optimizer
from gradtx.core.protocol import GradientTransformation, StatelessTransformation
from gradtx.numerics.ops import scalar_dtype
from gradtx.primitives.scaling.scaling import scale_by_learning_rate, scale_leaves
from gradtx.solvers import _tree
from gradtx.solvers.objective import require_objective

__all__ = ["ScaleByPolyak", "polyak_sgd", "scale_by_polyak"]

_VARIANTS = ("sps", "sps+")


class ScaleByPolyak(StatelessTransformation):
  """`u = gamma g` with Polyak's step `gamma = min((f(w) - f_min) / (|g|^2 + eps),
  max_learning_rate)` (SPS_max, Loizou et al., 2021); `variant="sps+"` uses
  `max(f(w) - f_min, 0)` (Garrigos et al., 2023). `gamma = 0` when `|g|^2 + eps` is
  at most float64's machine epsilon (no division by zero). Needs `value=f(w)`.
  Defaults (Optax): `f_min=0`, `max_learning_rate=1`, `eps=0`, `variant="sps"`.
  """

  f_min: Any = 0.0
  max_learning_rate: Any = 1.0
  eps: Any = 0.0
  variant: str = static(default="sps")

  def __post_init__(self):
    _checks.positive("scale_by_polyak", "max_learning_rate", self.max_learning_rate)
    _checks.non_negative("scale_by_polyak", "eps", self.eps)
    if self.variant not in _VARIANTS:
      raise ValueError(
        f"scale_by_polyak: variant={self.variant!r} is invalid; expected one of {_VARIANTS}."
      )

  def update(self, updates, state, params=None, *, value=None, **extra_args):
    del params, extra_args
    require_objective("scale_by_polyak", value=value)
    dtype = scalar_dtype()
    sq_norm = _tree.sq_norm(updates, dtype)
    gap = jnp.asarray(value).astype(dtype) - jnp.asarray(self.f_min).astype(dtype)
    if self.variant == "sps+":
      gap = jnp.maximum(gap, 0)
    den = sq_norm + jnp.asarray(self.eps).astype(dtype)
    tiny = den <= jnp.finfo(jnp.float64).eps
    step = jnp.minimum(gap / jnp.where(tiny, 1, den), jnp.asarray(self.max_learning_rate, dtype))
    return scale_leaves(updates, jnp.where(tiny, jnp.zeros_like(step), step)), state


def scale_by_polyak(
  f_min: Any = 0.0, max_learning_rate: Any = 1.0, eps: Any = 0.0, variant: str = "sps"
) -> ScaleByPolyak:
  r"""Scales updates by Polyak's step size (SPS_max, Loizou et al., 2021).

  $$
  u_t = \gamma_t\, g_t, \qquad
  \gamma_t = \min\Big( \frac{f(w) - f^*}{\|g_t\|^2 + \epsilon}, \gamma_{\max} \Big),
  $$

  with $f^*$ = `f_min`, $\gamma_{\max}$ = `max_learning_rate`; `variant="sps+"` uses
  $\max(f(w) - f^*, 0)$ (Garrigos et al., 2023). $\gamma_t = 0$ when
  $\|g_t\|^2 + \epsilon$ is at most float64's machine epsilon. Needs `value=f(w)`.

  Defaults: `f_min=0`, `max_learning_rate=1`, `eps=0`, `variant="sps"` (Optax's
  `scale_by_polyak`).

  Args:
    f_min: $f^*$, the optimal (or a lower-bound) value.
    max_learning_rate: $\gamma_{\max}$.
    eps: $\epsilon$, added to $\|g_t\|^2$.
    variant: `"sps"` or `"sps+"`.
  """
  return ScaleByPolyak(f_min, max_learning_rate, eps, variant)


def _polyak_sgd(
  max_learning_rate: Any = 1.0,
  scaling: Any = 1.0,
  f_min: Any = 0.0,
  eps: Any = 0.0,
  variant: str = "sps",
) -> GradientTransformation:
  r"""SGD with Polyak's step size (Loizou et al., 2021, SPS_max).

  $$
  w_t = w_{t-1} - s_t \min\Big( \frac{f(w_{t-1}) - f^*}{\|g_t\|^2 + \epsilon},
    \gamma_{\max} \Big)\, g_t,
  $$

  with $s_t$ = `scaling` (a number or a schedule), $f^*$ = `f_min` and $\gamma_{\max}$ =
  `max_learning_rate`; `variant="sps+"` uses $\max(f - f^*, 0)$. The step is computed
  from the raw gradient, then scaled, as the formula says (Optax scales first; the same
  for `scaling=1`, docs/differences.md). Needs `value=`.

  Defaults: `max_learning_rate=1`, `scaling=1`, `f_min=0`, `eps=0`, `variant="sps"`
  (Optax's `polyak_sgd`).

  Args:
    max_learning_rate: $\gamma_{\max}$.
    scaling: $s_t$, a number or a schedule.
    f_min: $f^*$, the optimal (or a lower-bound) value.
    eps: $\epsilon$, added to $\|g_t\|^2$.
    variant: `"sps"` or `"sps+"`.
  """
  return chain(
    scale_by_polyak(f_min, max_learning_rate, eps, variant), scale_by_learning_rate(scaling)
  )


polyak_sgd = named_optimizer(_polyak_sgd)
