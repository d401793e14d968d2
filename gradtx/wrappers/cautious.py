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
  """`inner`'s update `u`, masked per leaf where it disagrees with the gradient `g`.

  With `descent=True` (`inner` is a whole optimizer: its updates are added to the params, so
  they agree with `g` where `u g < 0`): `phi = [u g < 0]`; with `descent=False` (`inner` is a
  scaling stage whose direction is subtracted later, e.g. `scale_by_adam()`): `phi = [u g > 0]`.
  Then `u <- u phi / max(mean(phi), eps)`, the mean over the leaf's elements. Default
  `eps=1e-3` (the reference's `clamp_(min=1e-3)`). The reference C-AdamW masks Adam's direction
  and decays the weights unmasked: `chain(cautious(scale_by_adam(), descent=False),
  add_decayed_weights(wd), scale_by_learning_rate(lr))`; `cautious(adamw(lr, ...))` masks the
  weight-decay term too. The state is `inner`'s.
  """

  inner: GradientTransformation
  eps: Any = 1e-3
  descent: bool = static(True)

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
  """The cautious version of `inner` (see `Cautious`), e.g. `cautious(adamw(1e-3))`."""
  return Cautious(inner, eps, descent)
