"""Matrix-preconditioned named optimizers: Shampoo and SOAP."""

from __future__ import annotations

from typing import Any

from gradtx.combinators.combine import chain
from gradtx.core.protocol import GradientTransformation
from gradtx.optimizers.factory import optimizer
from gradtx.primitives.decay.weight_decay import add_decayed_weights
from gradtx.primitives.moments.momentum import trace
from gradtx.primitives.preconditioning.shampoo import scale_by_shampoo
from gradtx.primitives.preconditioning.soap import scale_by_soap
from gradtx.primitives.preconditioning.stepped_decay import add_stepped_weight_decay
from gradtx.primitives.scaling.scaling import scale_by_learning_rate

__all__ = ["shampoo", "soap"]


def _shampoo(
  learning_rate: Any,
  b1: Any = 0.9,
  beta2: Any = 0.999,
  weight_decay: Any = 0.0,
  matrix_eps: Any = 1e-6,
  graft_eps: Any = 1e-8,
  mask: Any = None,
  *,
  graft_type: str = "adam",
  precondition_frequency: int = 10,
  start_preconditioning_step: int = 5,
  block_size: int = 1024,
  max_preconditioner_dim: int = 10000,
  root_method: str = "eigh",
  exponent_override: int = 0,
  nesterov: bool = True,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""Shampoo (Anil et al., 2020; reference code google-research/distributed_shampoo).

  $$
  d_t = P_L\, G_t\, P_R\, \frac{\|a_t\|}{\|P_L G_t P_R\|} + \lambda\, w_{t-1}, \qquad
  m_t = \beta_1 m_{t-1} + d_t, \qquad w_t = w_{t-1} - \eta_t\, m_t,
  $$

  with $P_L G_t P_R$ the Kronecker-factored preconditioned gradient grafted onto the norm
  of the `graft_type` direction $a_t$ (`scale_by_shampoo`), $\lambda$ = `weight_decay`
  and heavy-ball momentum ($w_t = w_{t-1} - \eta_t (d_t + \beta_1 m_t)$ with Nesterov, the
  default, as the reference).

  Defaults: `b1=0.9`, `beta2=0.999`, `matrix_eps=1e-6`, `weight_decay=0`,
  `start_preconditioning_step=5`, `nesterov=True` (the reference code's), `graft_eps=1e-8`,
  `block_size=1024`, `max_preconditioner_dim=10000`, `exponent_override=0` (gradtx's),
  `precondition_frequency=10` (the reference recomputes every step; Shi et al., 2023,
  use 100).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    b1: $\beta_1$, the momentum after the preconditioning.
    beta2: the decay of the statistics $L$, $R$ and of the grafting moment (1: sums).
    weight_decay: $\lambda$.
    matrix_eps: the damping of the statistics, relative to their largest eigenvalue.
    graft_eps: $\epsilon$ of the grafting direction.
    mask: the leaves decayed; all by default.
    graft_type: `"adam"`, `"rmsprop"`, `"adagrad"` or `"sgd"`.
    precondition_frequency: the steps between recomputations of the inverse roots.
    start_preconditioning_step: the first step that uses the preconditioner.
    block_size: the largest block side.
    max_preconditioner_dim: the longest side that gets a factor.
    root_method: `"eigh"` or `"newton"`.
    exponent_override: the root $p$ (0: 4, Shampoo's two-sided root).
    nesterov: Nesterov form of the momentum.
    state_dtype: dtype of the state.
  """
  return chain(
    scale_by_shampoo(
      beta2,
      matrix_eps,
      graft_eps,
      graft_type=graft_type,
      precondition_frequency=precondition_frequency,
      start_preconditioning_step=start_preconditioning_step,
      block_size=block_size,
      max_preconditioner_dim=max_preconditioner_dim,
      root_method=root_method,
      exponent_override=exponent_override,
      state_dtype=state_dtype,
    ),
    add_decayed_weights(weight_decay, mask),
    trace(b1, nesterov, state_dtype=state_dtype),
    scale_by_learning_rate(learning_rate),
  )


def _soap(
  learning_rate: Any = 3e-3,
  b1: Any = 0.95,
  b2: Any = 0.95,
  shampoo_beta: Any = -1.0,
  eps: Any = 1e-8,
  weight_decay: Any = 0.01,
  precondition_frequency: int = 10,
  max_precond_dim: int = 10000,
  merge_dims: bool = False,
  precondition_1d: bool = False,
  normalize_grads: bool = False,
  correct_bias: bool = True,
  *,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""SOAP (Vyas et al., 2024; reference code nikhilvyas/SOAP).

  $$
  w_t = \big( w_{t-1} - \eta_t\, u_t \big) (1 - \eta_t \lambda),
  $$

  with SOAP's direction $u_t$ (Adam in Shampoo's eigenbasis, `scale_by_soap`) and the
  stepped weights then decayed, in the reference's order ($\lambda$ = `weight_decay`); the
  first call only builds the eigenbasis (no step, no decay).

  Defaults: `learning_rate=3e-3`, `b1=0.95`, `b2=0.95`, `shampoo_beta=-1` (meaning
  `b2`), `eps=1e-8`, `weight_decay=0.01`, `precondition_frequency=10`,
  `max_precond_dim=10000` (the reference code's).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    b1: $\beta_1$, the decay of the first moment (in the eigenbasis).
    b2: $\beta_2$, the decay of the second moment.
    shampoo_beta: the decay of the Kronecker factors (-1: `b2`).
    eps: $\epsilon$, added to the root.
    weight_decay: $\lambda$.
    precondition_frequency: the steps between eigenbasis refreshes.
    max_precond_dim: the largest dimension that gets a factor.
    merge_dims: merge consecutive dims as the reference does.
    precondition_1d: precondition 1-D leaves too.
    normalize_grads: divide the direction by its RMS.
    correct_bias: Adam's bias corrections.
    state_dtype: dtype of the state.
  """
  return chain(
    scale_by_soap(
      b1,
      b2,
      shampoo_beta,
      eps,
      precondition_frequency,
      max_precond_dim,
      merge_dims,
      precondition_1d,
      normalize_grads,
      correct_bias,
      state_dtype=state_dtype,
    ),
    scale_by_learning_rate(learning_rate),
    add_stepped_weight_decay(learning_rate, weight_decay, skip_steps=1),
  )


shampoo = optimizer(
  _shampoo,
  static_args=(
    "precondition_frequency",
    "start_preconditioning_step",
    "block_size",
    "max_preconditioner_dim",
    "exponent_override",
  ),
)
soap = optimizer(_soap, static_args=("precondition_frequency", "max_precond_dim"))
