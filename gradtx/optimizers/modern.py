"""Modern named optimizers: MARS (variance-reduced AdamW), LaProp and PSGD-Kron."""

from __future__ import annotations

from typing import Any

import jax

from gradtx.combinators.combine import chain
from gradtx.combinators.groups import masked
from gradtx.core.protocol import GradientTransformation
from gradtx.optimizers.factory import optimizer
from gradtx.primitives.decay.weight_decay import add_decayed_weights
from gradtx.primitives.moments.laprop import scale_by_laprop
from gradtx.primitives.moments.mars import scale_by_mars
from gradtx.primitives.preconditioning.kron import kron_update_probability, scale_by_kron
from gradtx.primitives.preconditioning.stepped_decay import add_stepped_weight_decay
from gradtx.primitives.scaling.scaling import scale_by_learning_rate

__all__ = ["mars", "laprop", "kron"]


def _mars_leaves(optimize_1d: bool, want: bool):
  """The mask of the leaves MARS itself updates (`want=True`) or AdamW does (`False`)."""
  return lambda params: jax.tree.map(lambda p: (optimize_1d or p.ndim == 2) == want, params)


def _mars(
  learning_rate: Any = 3e-3,
  b1: Any = 0.95,
  b2: Any = 0.99,
  eps: Any = 1e-8,
  weight_decay: Any = 0.0,
  gamma: Any = 0.025,
  optimize_1d: bool = False,
  lr_1d: Any = 3e-3,
  b1_1d: Any = 0.9,
  b2_1d: Any = 0.95,
  weight_decay_1d: Any = 0.1,
  *,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""MARS-AdamW (Yuan et al., 2024; reference code AGI-Arena/MARS, `mars.py`).

  $$
  w_t = w_{t-1} - \eta_t \big( u_t + \lambda\, w_{t-1} \big) \quad \text{(2-D leaves)},
  \qquad
  w_t = w_{t-1} - \eta^{1d}_t \big( u_t + \lambda^{1d}\, w_{t-1} \big) \quad
  \text{(other leaves)},
  $$

  with $u_t$ MARS's variance-reduced Adam direction on 2-D leaves and plain Adam with
  `(b1_1d, b2_1d)` on the others (`scale_by_mars`; all leaves are MARS's with
  `optimize_1d=True`), $\eta$ = `learning_rate`, $\lambda$ = `weight_decay`,
  $\eta^{1d}$ = `lr_1d`, $\lambda^{1d}$ = `weight_decay_1d`.

  Defaults: `learning_rate=3e-3`, `b1=0.95`, `b2=0.99`, `eps=1e-8`, `weight_decay=0`,
  `gamma=0.025`, `lr_1d=3e-3`, `b1_1d=0.9`, `b2_1d=0.95`, `weight_decay_1d=0.1` (the
  reference code's).

  Args:
    learning_rate: $\eta$ of the MARS leaves, a number or a schedule.
    b1: $\beta_1$ of the MARS leaves.
    b2: $\beta_2$ of the MARS leaves.
    eps: $\epsilon$, added to the root.
    weight_decay: $\lambda$ of the MARS leaves.
    gamma: $\gamma$, the weight of the gradient correction.
    optimize_1d: use MARS on every leaf, not only the 2-D ones.
    lr_1d: $\eta^{1d}$ of the other leaves.
    b1_1d: $\beta_1$ of the other leaves.
    b2_1d: $\beta_2$ of the other leaves.
    weight_decay_1d: $\lambda^{1d}$ of the other leaves.
    state_dtype: dtype of the state.
  """
  return chain(
    scale_by_mars(b1, b2, gamma, eps, b1_1d, b2_1d, optimize_1d, state_dtype=state_dtype),
    masked(
      chain(add_decayed_weights(weight_decay), scale_by_learning_rate(learning_rate)),
      _mars_leaves(optimize_1d, True),
    ),
    masked(
      chain(add_decayed_weights(weight_decay_1d), scale_by_learning_rate(lr_1d)),
      _mars_leaves(optimize_1d, False),
    ),
  )


def _laprop(
  learning_rate: Any = 4e-4,
  b1: Any = 0.8,
  b2: Any = 0.99,
  eps: Any = 1e-15,
  weight_decay: Any = 0.0,
  *,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""LaProp (Ziyin et al., 2020; reference code Z-T-WANG/LaProp-Optimizer).

  $$
  w_t = \big( w_{t-1} - \eta_t\, u_t \big) (1 - \lambda),
  $$

  with LaProp's direction $u_t$ (`scale_by_laprop`) and, as the reference, the stepped
  weights decayed without the learning rate ($\lambda$ = `weight_decay`).

  Defaults: `learning_rate=4e-4`, `b1=0.8`, `b2=0.99`, `eps=1e-15`, `weight_decay=0`
  (the reference code's).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    b1: $\beta_1$, the decay of the momentum.
    b2: $\beta_2$, the decay of the second moment.
    eps: $\epsilon$, added to the root.
    weight_decay: $\lambda$.
    state_dtype: dtype of the state.
  """
  return chain(
    scale_by_laprop(b1, b2, eps, state_dtype=state_dtype),
    scale_by_learning_rate(learning_rate),
    add_stepped_weight_decay(1.0, weight_decay),
  )


def _kron(
  learning_rate: Any = 1e-3,
  b1: Any = 0.9,
  weight_decay: Any = 0.0,
  weight_decay_mask: Any = None,
  preconditioner_update_probability: Any = kron_update_probability(),
  max_size_triangular: int = 8192,
  min_ndim_triangular: int = 2,
  memory_save_mode: str | None = None,
  momentum_into_precond_update: bool = True,
  preconditioner_lr: Any = 0.1,
  preconditioner_init_scale: Any = 1.0,
  mu_dtype: Any = None,
  precond_dtype: Any = None,
  *,
  seed: int = 5318008,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""PSGD-Kron (Xi-Lin Li; reference code psgd_jax `kron.py`, kron-torch).

  $$
  w_t = w_{t-1} - \eta_t \big( u_t + \lambda\, w_{t-1} \big),
  $$

  with PSGD-Kron's preconditioned momentum $u_t$ (`scale_by_kron`) and $\lambda$ =
  `weight_decay` (on `weight_decay_mask`).

  Defaults: `learning_rate=1e-3`, `b1=0.9`, `weight_decay=0`, the update probability 1
  for 500 steps then annealed to 0.03 (`kron_update_probability`),
  `max_size_triangular=8192`, `min_ndim_triangular=2`, `preconditioner_lr=0.1`,
  `preconditioner_init_scale=1` (the reference code's); `seed=5318008` (gradtx's).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    b1: $\beta_1$, the decay of the momentum.
    weight_decay: $\lambda$.
    weight_decay_mask: the leaves decayed; all by default.
    preconditioner_update_probability: a number in (0, 1] or a schedule of the step.
    max_size_triangular: the largest dim that gets a triangular factor.
    min_ndim_triangular: the fewest dims a leaf needs for triangular factors.
    memory_save_mode: `None`, `'one_diag'` or `'all_diag'`.
    momentum_into_precond_update: fit the preconditioner to the momentum (else the
      gradient).
    preconditioner_lr: the step size of the factors' fit.
    preconditioner_init_scale: the scale the factors start at.
    mu_dtype: dtype of the momentum.
    precond_dtype: dtype of the factors.
    seed: the seed of the probe vectors.
    state_dtype: dtype of the state.
  """
  return chain(
    scale_by_kron(
      b1,
      preconditioner_update_probability,
      max_size_triangular,
      min_ndim_triangular,
      memory_save_mode,
      momentum_into_precond_update,
      preconditioner_lr,
      preconditioner_init_scale,
      mu_dtype,
      precond_dtype,
      seed=seed,
      state_dtype=state_dtype,
    ),
    add_decayed_weights(weight_decay, weight_decay_mask),
    scale_by_learning_rate(learning_rate),
  )


mars = optimizer(_mars, static_args=("optimize_1d",))
laprop = optimizer(_laprop)
kron = optimizer(_kron, static_args=("max_size_triangular", "min_ndim_triangular", "seed"))
