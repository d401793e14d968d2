"""Cautious optimizers (Liang, Chen, Liu & Liu 2024, "Cautious Optimizers: Improving Training
with One Line of Code"; reference kyleliang919/C-Optim): drop the update components that
point against the current gradient."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.protocol import GradientTransformation, as_transformation
from gradtx.numerics.ops import compute_dtype, hyper, map_leaves

__all__ = ["Cautious", "cautious"]


class Cautious(GradientTransformation):
  """The cautious wrapper; the rule and defaults are on `cautious`."""

  inner: GradientTransformation
  eps: Any = 1e-3
  descent: bool = static(default=True)

  def __post_init__(self):
    object.__setattr__(self, "inner", as_transformation(self.inner))
    _checks.positive("cautious", "eps", self.eps)

  def init(self, params):
    return self.inner.init(params)

  def update(self, updates, state, params=None, **extra_args):
    new_updates, state = self.inner.update(updates, state, params, **extra_args)

    def leaf(u, g):
      cdt = compute_dtype(u.dtype)
      uc, gc = u.astype(cdt), g.astype(cdt)
      agree = (uc * gc < 0) if self.descent else (uc * gc > 0)
      phi = agree.astype(cdt)
      scale = 1 / jnp.maximum(jnp.mean(phi), hyper(self.eps, cdt)) if phi.size else 1
      return ((uc * phi * scale).astype(u.dtype),)

    (masked,) = map_leaves(leaf, new_updates, updates, n_out=1)
    return masked, state


def cautious(inner: GradientTransformation, eps: Any = 1e-3, *, descent: bool = True) -> Cautious:
  r"""The cautious version of `inner` (Liang et al., 2024; reference code
  kyleliang919/C-Optim), e.g. `cautious(adamw(1e-3))`.

  With $u$ `inner`'s update and $g$ the gradient, per leaf:

  $$
  \phi = [u \odot g < 0] \ (\texttt{descent=True}), \qquad
  \phi = [u \odot g > 0] \ (\texttt{descent=False}), \qquad
  u \leftarrow \frac{u \odot \phi}{\max(\operatorname{mean}(\phi), \epsilon)},
  $$

  the mean over the leaf's elements. `descent=True` is for a whole optimizer (its updates
  are added to the params); `descent=False` for a scaling stage whose direction is
  subtracted later, e.g. `scale_by_adam()`. The reference C-AdamW masks Adam's direction and
  decays the weights unmasked: `chain(cautious(scale_by_adam(), descent=False),
  add_decayed_weights(wd), scale_by_learning_rate(lr))`; `cautious(adamw(lr, ...))` masks
  the weight-decay term too. The state is `inner`'s.

  Defaults: `eps=1e-3` (the reference code's `clamp_(min=1e-3)`), `descent=True`.

  Args:
    inner: the optimizer or scaling stage masked.
    eps: $\epsilon$, the floor of the kept fraction.
    descent: `inner`'s updates are added to the params (a whole optimizer).
  """
  return Cautious(inner, eps, descent)
