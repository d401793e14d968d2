"""Shared pieces of the `torch.optim` ports: PyTorch's validation and its stages."""

from __future__ import annotations

from typing import Any

from gradtx.core import checks as _checks
from gradtx.core.protocol import GradientTransformation, identity
from gradtx.primitives.decay.weight_decay import add_decayed_weights
from gradtx.primitives.scaling.scaling import scale

__all__ = ["is_zero", "maximize_stage", "l2_stage", "check_lr", "check_betas", "check_common"]


def is_zero(value: Any) -> bool:
  """A Python number equal to 0: the stage it drives is left out (as PyTorch skips
  it). Arrays (a scheduler's traced value) always keep their stage."""
  return isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0


def maximize_stage(maximize: bool) -> GradientTransformation:
  r"""PyTorch's `maximize=True`: the gradient is negated first, $g \leftarrow -g$
  (`scale(-1)`; `identity` otherwise).

  Defaults: none (`maximize=False` is every torch.optim optimizer's).

  Args:
    maximize: negate the gradient.
  """
  return scale(-1.0) if maximize else identity()


def l2_stage(weight_decay: Any) -> GradientTransformation:
  r"""PyTorch's coupled `weight_decay`: $g \leftarrow g + \lambda \theta$ before any moment
  (`add_decayed_weights`; left out when $\lambda$ is the number 0).

  Defaults: none (`weight_decay=0` is most torch.optim optimizers').

  Args:
    weight_decay: $\lambda$.
  """
  return identity() if is_zero(weight_decay) else add_decayed_weights(weight_decay)


def check_lr(owner: str, lr: Any) -> None:
  _checks.non_negative(owner, "lr", lr)


def check_betas(owner: str, betas: Any) -> None:
  """PyTorch's `betas`: a pair, each in [0, 1)."""
  if not isinstance(betas, (tuple, list)) or len(betas) != 2:
    raise ValueError(f"{owner}: betas={betas!r} is invalid; expected a pair (beta1, beta2).")
  _checks.decay_rate(owner, "betas[0]", betas[0])
  _checks.decay_rate(owner, "betas[1]", betas[1])


def check_common(owner: str, lr: Any, eps: Any = 0.0, weight_decay: Any = 0.0) -> None:
  """`lr >= 0`, `eps >= 0`, `weight_decay >= 0`, as PyTorch checks them."""
  check_lr(owner, lr)
  _checks.non_negative(owner, "eps", eps)
  _checks.non_negative(owner, "weight_decay", weight_decay)
