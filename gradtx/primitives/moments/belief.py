"""AdaBelief: Adam whose second moment tracks the gradient's deviation from its mean."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import (
  abs_sq,
  bias_correction,
  complement,
  compute_dtype,
  hyper,
  map_leaves,
  real_dtype,
  safe_div,
  safe_increment,
  zero_count,
)
from gradtx.primitives.moments.adam import (
  check_betas,
  debiased_first_moment,
  first_moment_corrections,
  zero_moments,
)

__all__ = ["ScaleByBelief", "ScaleByBeliefState", "scale_by_belief"]


class ScaleByBeliefState(NamedTuple):
  """`count`: steps done; `mu`: the mean `m` of `g`; `nu`: the belief `s`; like the params."""

  count: jax.Array
  mu: Any
  nu: Any


class ScaleByBelief(GradientTransformation):
  """AdaBelief's scaling; the update rule and defaults are on `scale_by_belief`."""

  b1: Any = 0.9
  b2: Any = 0.999
  eps: Any = 1e-16
  eps_root: Any = 1e-16
  nesterov: bool = static(default=False)
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    check_betas("scale_by_belief", self.b1, self.b2, self.eps, self.eps_root)

  def init(self, params):
    return ScaleByBeliefState(zero_count(), *zero_moments(params, state_dtype=self.state_dtype))

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    count = safe_increment(state.count)
    c1 = first_moment_corrections(self.b1, count, self.nesterov)
    c2 = bias_correction(self.b2, count)

    def leaf(g, m, s):
      cdt = compute_dtype(g.dtype)
      b1, b2 = hyper(self.b1, cdt), hyper(self.b2, cdt)
      gc = g.astype(cdt)
      m_new = b1 * m.astype(cdt) + complement(self.b1, cdt) * gc
      s_new = (
        b2 * s.astype(real_dtype(cdt))
        + complement(self.b2, cdt) * abs_sq(gc - m_new)
        + hyper(self.eps_root, cdt)
      )
      m_hat = debiased_first_moment(m_new, gc, self.b1, c1)
      denom = jnp.sqrt(s_new / hyper(c2, cdt)) + hyper(self.eps, cdt)
      u = safe_div(m_hat, denom)
      return u.astype(g.dtype), m_new.astype(m.dtype), s_new.astype(s.dtype)

    updates, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, n_out=3)
    return updates, ScaleByBeliefState(count, mu, nu)


def scale_by_belief(
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-16,
  eps_root: Any = 1e-16,
  *,
  nesterov: bool = False,
  state_dtype: Any = None,
) -> ScaleByBelief:
  r"""AdaBelief's scaling (Zhuang et al., 2020).

  $$
  \begin{aligned}
  m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
  s_t = \beta_2 s_{t-1} + (1 - \beta_2)\, |g_t - m_t|^2 + \epsilon_{\mathrm{root}}, \\
  u_t &= \frac{m_t / (1 - \beta_1^t)}{\sqrt{s_t / (1 - \beta_2^t)} + \epsilon},
  \end{aligned}
  $$

  with $m_0 = s_0 = 0$; $\epsilon_{\mathrm{root}}$ is added to the stored $s_t$, as in the
  paper's algorithm and Optax, and $u_t = 0$ only where the whole denominator is 0.
  With `nesterov=True` the numerator is $\frac{\beta_1 m_t}{1 - \beta_1^{t+1}}
  + \frac{(1 - \beta_1) g_t}{1 - \beta_1^t}$.

  Defaults: `b1=0.9`, `b2=0.999`, `eps=1e-16`, `eps_root=1e-16` (Optax's
  `scale_by_belief`; the paper's experiments use `eps=1e-8`, `eps_root=0`).

  Args:
    b1: $\beta_1$, the decay of the first moment.
    b2: $\beta_2$, the decay of the belief $s$.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added to the stored $s_t$.
    nesterov: NAdam's look-ahead first moment.
    state_dtype: dtype of the moments.

  Returns:
    A `ScaleByBelief` transformation with state `ScaleByBeliefState(count, mu, nu)`.
  """
  return ScaleByBelief(b1, b2, eps, eps_root, nesterov, state_dtype)
