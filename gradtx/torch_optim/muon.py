"""`torch.optim.Muon` by name and argument, on `gradtx.contrib.muon`."""

from __future__ import annotations

from typing import Any

import jax

from gradtx.combinators.combine import chain
from gradtx.contrib.muon import muon
from gradtx.core import checks as _checks
from gradtx.core.named import named_optimizer
from gradtx.core.protocol import GradientTransformation, StatelessTransformation
from gradtx.torch_optim._common import check_common

__all__ = ["Muon"]


class _MatricesOnly(StatelessTransformation):
  """PyTorch's Muon refuses any parameter that is not a matrix; so does `init` here."""

  def init(self, params):
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
      if getattr(leaf, "ndim", None) != 2:
        raise ValueError(
          "Muon only supports 2D parameters whereas we found a parameter "
          f"{jax.tree_util.keystr(path)} with shape {getattr(leaf, 'shape', ())}; "
          "use gradtx.partition with another optimizer for the others, or "
          "gradtx.contrib.muon (AdamW on non-matrix leaves)."
        )
    return super().init(params)

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    return updates, state


def _Muon(
  lr: Any = 1e-3,
  weight_decay: Any = 0.1,
  momentum: Any = 0.95,
  nesterov: bool = True,
  ns_coefficients: Any = (3.4445, -4.775, 2.0315),
  eps: Any = 1e-7,
  ns_steps: int = 5,
  adjust_lr_fn: str | None = None,
  *,
  muon_weight_dimension_numbers: Any = None,
) -> GradientTransformation:
  r"""`torch.optim.Muon`: momentum orthogonalized by Newton-Schulz (Keller Jordan's Muon).

  With $\gamma$ = `lr`, $\mu$ = `momentum`, $\lambda$ = `weight_decay`, $b_0 = 0$, on
  matrices only:

  $$
  \begin{aligned}
  b_t &= \mu\, b_{t-1} + (1 - \mu)\, g_t, \qquad
  d_t = \mu\, b_t + (1 - \mu)\, g_t \quad (\text{else } d_t = b_t), \\
  \theta_t &= \theta_{t-1} (1 - \gamma \lambda) - \gamma\, s\, \mathrm{NS}(d_t), \qquad
  s = \begin{cases}
    \sqrt{\max(1, \mathrm{fan_{out}} / \mathrm{fan_{in}})} & \texttt{adjust\_lr\_fn=None}, \\
    0.2 \sqrt{\max(\mathrm{fan_{in}}, \mathrm{fan_{out}})} & \texttt{"match\_rms\_adamw"},
  \end{cases}
  \end{aligned}
  $$

  with $\mathrm{NS}$ `ns_steps` iterations $X \leftarrow aX + (bA + cA^2)X$,
  $A = X X^\top$, from $X = d_t / \max(\lVert d_t \rVert_F, \epsilon)$ and
  $(a, b, c)$ = `ns_coefficients` (`gradtx.contrib.muon`). Every leaf must be a matrix.
  Which axis is fan-in: `muon_weight_dimension_numbers` (gradtx's; default: JAX's
  `(in, out)` layout, axis 0 -- a PyTorch `(out, in)` weight is its transpose). PyTorch
  runs Newton-Schulz in bfloat16; gradtx in the compute dtype (float32 or float64).

  Defaults: `lr=1e-3`, `weight_decay=0.1`, `momentum=0.95`, `nesterov=True`,
  `ns_coefficients=(3.4445, -4.775, 2.0315)`, `eps=1e-7`, `ns_steps=5`,
  `adjust_lr_fn=None` (torch.optim.Muon, PyTorch 2.x).

  Args:
    lr: $\gamma$, a number (a scheduler may drive it).
    weight_decay: $\lambda$, decoupled.
    momentum: $\mu$.
    nesterov: Nesterov's look-ahead $d_t$.
    ns_coefficients: $(a, b, c)$ of the Newton-Schulz polynomial.
    eps: $\epsilon$ of the normalization.
    ns_steps: the number of Newton-Schulz iterations (static).
    adjust_lr_fn: `None`/`"original"` or `"match_rms_adamw"`: the shape factor $s$.
    muon_weight_dimension_numbers: gradtx's: which axes are fan-in and fan-out.
  """
  check_common("Muon", lr, eps, weight_decay)
  _checks.non_negative("Muon", "momentum", momentum)
  if adjust_lr_fn not in (None, "original", "match_rms_adamw"):
    raise ValueError(
      f"Muon: adjust_lr_fn={adjust_lr_fn!r} is invalid; expected None, "
      "'original' or 'match_rms_adamw'."
    )
  if ns_steps >= 100:
    raise ValueError(f"Muon: ns_steps={ns_steps!r} is invalid; expected fewer than 100.")
  if len(ns_coefficients) != 3:
    raise ValueError(f"Muon: ns_coefficients={ns_coefficients!r} is invalid; expected 3 values.")
  return chain(
    _MatricesOnly(),
    muon(
      lr,
      tuple(ns_coefficients),
      ns_steps,
      momentum,
      eps,
      weight_decay,
      nesterov=nesterov,
      consistent_rms=0.2 if adjust_lr_fn == "match_rms_adamw" else None,
      muon_weight_dimension_numbers=muon_weight_dimension_numbers,
    ),
  )


Muon = named_optimizer(_Muon, static_args=("ns_steps",))
