"""NAdam with Dozat's momentum schedule `mu_t = b1 (1 - 0.5 * 0.96^(t psi))`."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import (
  bias_correction,
  hyper,
  map_leaves,
  safe_div,
  safe_increment,
  scalar_dtype,
  zero_count,
)
from gradtx.primitives.moments.adam import adam_moments, check_betas, zero_moments

__all__ = ["ScaleByNadam", "ScaleByNadamState", "scale_by_nadam"]


class ScaleByNadamState(NamedTuple):
  """`count`; `mu_product`: `prod_{i <= t} mu_i` (a scalar); `mu`, `nu`: Adam's moments."""

  count: jax.Array
  mu_product: jax.Array
  mu: Any
  nu: Any


def _momentum(b1: Any, t: jax.Array, momentum_decay: Any) -> jax.Array:
  """`mu_t = b1 (1 - 0.5 * 0.96^(t psi))` as a scalar."""
  dt = scalar_dtype()
  return jnp.asarray(b1, dt) * (1.0 - 0.5 * 0.96 ** (t * jnp.asarray(momentum_decay, dt)))


class ScaleByNadam(GradientTransformation):
  """NAdam with the momentum schedule; the update rule and defaults are on
  `scale_by_nadam`. The schedule and its running product are scalars, computed once
  per step."""

  b1: Any = 0.9
  b2: Any = 0.999
  eps: Any = 1e-8
  momentum_decay: Any = 4e-3
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    check_betas("scale_by_nadam", self.b1, self.b2, self.eps)
    _checks.non_negative("scale_by_nadam", "momentum_decay", self.momentum_decay)

  def init(self, params):
    return ScaleByNadamState(
      zero_count(),
      jnp.ones([], scalar_dtype()),
      *zero_moments(params, state_dtype=self.state_dtype),
    )

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    count = safe_increment(state.count)
    t = count.astype(scalar_dtype())
    mu_t = _momentum(self.b1, t, self.momentum_decay)
    mu_next = _momentum(self.b1, t + 1.0, self.momentum_decay)
    product = state.mu_product * mu_t
    coef_g = (1.0 - mu_t) / (1.0 - product)
    coef_m = mu_next / (1.0 - product * mu_next)
    c2 = bias_correction(self.b2, count)

    def leaf(g, m, v):
      gc, m_new, v_new = adam_moments(g, m, v, self.b1, self.b2)
      cdt = gc.dtype
      d = jnp.sqrt(v_new / hyper(c2, cdt)) + hyper(self.eps, cdt)
      u = safe_div(hyper(coef_g, cdt) * gc + hyper(coef_m, cdt) * m_new, d)
      return u.astype(g.dtype), m_new.astype(m.dtype), v_new.astype(v.dtype)

    updates, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, n_out=3)
    return updates, ScaleByNadamState(count, product, mu, nu)


def scale_by_nadam(
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-8,
  momentum_decay: Any = 4e-3,
  *,
  state_dtype: Any = None,
) -> ScaleByNadam:
  r"""NAdam's scaling (Dozat, 2016, "Incorporating Nesterov Momentum into Adam") with the
  paper's momentum schedule, as PyTorch's `NAdam`.

  With $\psi$ = `momentum_decay` and Adam's $m_t$, $v_t$ (see `scale_by_adam`):

  $$
  \begin{aligned}
  \mu_t &= \beta_1 \big(1 - \tfrac12\, 0.96^{t \psi}\big), \qquad
  P_t = \prod_{i \le t} \mu_i, \qquad
  d_t = \sqrt{v_t / (1 - \beta_2^t)} + \epsilon, \\
  u_t &= \frac{1 - \mu_t}{1 - P_t} \frac{g_t}{d_t}
    + \frac{\mu_{t+1}}{1 - P_t \mu_{t+1}} \frac{m_t}{d_t}.
  \end{aligned}
  $$

  With $\psi = 0$ the schedule is constant, $\mu_t = \beta_1 / 2$.

  Defaults: `b1=0.9`, `b2=0.999`, `eps=1e-8`, `momentum_decay=4e-3` (Dozat, 2016;
  PyTorch's `NAdam`).

  Args:
    b1: $\beta_1$, the scale of the momentum schedule and the decay of $m$.
    b2: $\beta_2$, the decay of the second moment.
    eps: $\epsilon$, added to the root.
    momentum_decay: $\psi$.
    state_dtype: dtype of the moments.

  Returns:
    A `ScaleByNadam` transformation with state `ScaleByNadamState`.
  """
  return ScaleByNadam(b1, b2, eps, momentum_decay, state_dtype)
