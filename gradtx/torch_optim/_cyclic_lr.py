"""PyTorch's CosineAnnealingLR, CosineAnnealingWarmRestarts, CyclicLR, OneCycleLR and
ReduceLROnPlateau constructors (re-exported by
`gradtx.torch_optim.lr_scheduler`, whose docstring describes the common behaviour)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gradtx.core import checks as _checks
from gradtx.torch_optim._cyclic import CyclicRule, OneCycleRule, PlateauRule
from gradtx.torch_optim._rules import CosineAnnealingRule, WarmRestartsRule
from gradtx.torch_optim._scheduled import Scheduled, build, check_int

__all__ = [
  "CosineAnnealingLR",
  "CosineAnnealingWarmRestarts",
  "CyclicLR",
  "OneCycleLR",
  "ReduceLROnPlateau",
]


def CosineAnnealingLR(
  optimizer: Any,
  T_max: int,
  eta_min: Any = 0.0,
  last_epoch: int = -1,
  *,
  steps_per_epoch: Any = None,
  initial_lr: Any = None,
) -> Scheduled:
  r"""`torch.optim.lr_scheduler.CosineAnnealingLR`: PyTorch's recursive cosine annealing.

  $$
  \eta_e = \begin{cases}
    \eta_{e-1} + (\eta_0 - \eta_{\min}) \dfrac{1 - \cos(\pi / T)}{2}
      & (e - 1 - T) \bmod 2T = 0, \\
    \eta_{\min} + (\eta_{e-1} - \eta_{\min})
      \dfrac{1 + \cos(\pi e / T)}{1 + \cos(\pi (e - 1) / T)} & \text{otherwise,}
  \end{cases}
  $$

  with $T$ = `T_max` and $\eta_{\min}$ = `eta_min`; $e$ is the scheduler's epoch (`last_epoch`)
  and $\eta_0$ the optimizer's `lr`. For $e \le T$ this is
  $\eta_{\min} + (\eta_0 - \eta_{\min})(1 + \cos(\pi e / T)) / 2$; past $T$ it rises again
  (period $2T$), unlike `gradtx.cosine_decay_schedule`.

  Defaults: `eta_min=0.0`, `last_epoch=-1` (torch.optim.lr_scheduler.CosineAnnealingLR,
  PyTorch 2.x); `steps_per_epoch=None`, `initial_lr=None` (gradtx's).

  Args:
    optimizer: a `gradtx.torch_optim` (or named gradtx) optimizer with a numeric `lr`.
    T_max: $T$, epochs of the half period.
    eta_min: $\eta_{\min}$.
    last_epoch: PyTorch's: -1 starts at epoch 0; $k \ge 0$ resumes at epoch $k + 1$
      (with `initial_lr`).
    steps_per_epoch: gradtx's: step the scheduler once every this many updates.
    initial_lr: $\eta_0$ when resuming (PyTorch's `param_groups[0]["initial_lr"]`).
  """
  check_int("CosineAnnealingLR", "T_max", T_max, 1)
  return build(
    "CosineAnnealingLR",
    optimizer,
    CosineAnnealingRule(T_max, eta_min),
    last_epoch,
    steps_per_epoch,
    initial_lr,
  )


def CosineAnnealingWarmRestarts(
  optimizer: Any,
  T_0: int,
  T_mult: int = 1,
  eta_min: Any = 0.0,
  last_epoch: int = -1,
  *,
  steps_per_epoch: Any = None,
) -> Scheduled:
  r"""`torch.optim.lr_scheduler.CosineAnnealingWarmRestarts`: SGDR (Loshchilov & Hutter, 2017).

  $$
  \eta_e = \eta_{\min} + (\eta_0 - \eta_{\min})\,
    \frac{1 + \cos(\pi\, T_{cur} / T_i)}{2},
  $$

  with $T_{cur}$ the epochs since the last restart: it grows by 1 each epoch and at $T_{cur} =
  T_i$ restarts at 0 with $T_i \leftarrow T_i\, T_{mult}$ ($T_0$ = `T_0`, $\eta_{\min}$ =
  `eta_min`); $e$ is the scheduler's epoch (`last_epoch`) and $\eta_0$ the optimizer's `lr`.

  Defaults: `T_mult=1`, `eta_min=0.0`, `last_epoch=-1`
  (torch.optim.lr_scheduler.CosineAnnealingWarmRestarts, PyTorch 2.x); `steps_per_epoch=None`
  (gradtx's).

  Args:
    optimizer: a `gradtx.torch_optim` (or named gradtx) optimizer with a numeric `lr`.
    T_0: $T_0$, epochs of the first period.
    T_mult: $T_{mult}$, the growth of the period.
    eta_min: $\eta_{\min}$.
    last_epoch: -1 only (resume by restoring the saved gradtx state).
    steps_per_epoch: gradtx's: step the scheduler once every this many updates.
  """
  check_int("CosineAnnealingWarmRestarts", "T_0", T_0, 1)
  check_int("CosineAnnealingWarmRestarts", "T_mult", T_mult, 1)
  return build(
    "CosineAnnealingWarmRestarts",
    optimizer,
    WarmRestartsRule(T_0, T_mult, eta_min),
    last_epoch,
    steps_per_epoch,
  )


def CyclicLR(
  optimizer: Any,
  base_lr: Any,
  max_lr: Any,
  step_size_up: int = 2000,
  step_size_down: int | None = None,
  mode: str = "triangular",
  gamma: Any = 1.0,
  scale_fn: Callable | None = None,
  scale_mode: str = "cycle",
  cycle_momentum: bool = True,
  base_momentum: Any = 0.8,
  max_momentum: Any = 0.9,
  last_epoch: int = -1,
  *,
  steps_per_epoch: Any = None,
) -> Scheduled:
  r"""`torch.optim.lr_scheduler.CyclicLR`: cyclical learning rates (Smith, 2017).

  $$
  \begin{aligned}
  c &= \Big\lfloor 1 + \frac{e}{T_u + T_d} \Big\rfloor, \qquad
  x = 1 + \frac{e}{T_u + T_d} - c, \qquad
  h = \begin{cases} x / r & x \le r, \\ (x - 1) / (r - 1) & x > r, \end{cases}
  \quad r = \frac{T_u}{T_u + T_d}, \\
  \eta_e &= \eta_{\mathrm{base}} + (\eta_{\max} - \eta_{\mathrm{base}})\, h\, s, \qquad
  \mu_e = \mu_{\max} - (\mu_{\max} - \mu_{\mathrm{base}})\, h\, s,
  \end{aligned}
  $$

  with $T_u$, $T_d$ = `step_size_up`, `step_size_down` (default $T_d = T_u$), $s = 1$
  (`triangular`), $s = 2^{1 - c}$ (`triangular2`), $s = \gamma^e$ (`exp_range`) or `scale_fn` of
  $c$ (`scale_mode="cycle"`) or of $e$ (`"iterations"`); $e$ is the scheduler's epoch
  (`last_epoch`). With `cycle_momentum` the optimizer's momentum (beta1 for the Adam family)
  $\mu_e$ moves opposite to the rate.

  Defaults: `step_size_up=2000`, `step_size_down=None`, `mode="triangular"`, `gamma=1.0`,
  `scale_mode="cycle"`, `cycle_momentum=True`, `base_momentum=0.8`, `max_momentum=0.9`,
  `last_epoch=-1` (torch.optim.lr_scheduler.CyclicLR, PyTorch 2.x); `steps_per_epoch=None`
  (gradtx's).

  Args:
    optimizer: a `gradtx.torch_optim` (or named gradtx) optimizer with a numeric `lr`.
    base_lr: $\eta_{\mathrm{base}}$, the bottom of the cycle.
    max_lr: $\eta_{\max}$, the top of the cycle.
    step_size_up: $T_u$, epochs of the rising half.
    step_size_down: $T_d$, epochs of the falling half (None: $T_u$).
    mode: `"triangular"`, `"triangular2"` or `"exp_range"`: the scale $s$.
    gamma: $\gamma$ of `exp_range`.
    scale_fn: a custom $s$ (a `jnp` function; overrides `mode`).
    scale_mode: `"cycle"` or `"iterations"`: the argument of `scale_fn`.
    cycle_momentum: cycle the optimizer's momentum (beta1) too.
    base_momentum: $\mu_{\mathrm{base}}$.
    max_momentum: $\mu_{\max}$.
    last_epoch: -1 only (resume by restoring the saved gradtx state).
    steps_per_epoch: gradtx's: step the scheduler once every this many updates.
  """
  if mode not in ("triangular", "triangular2", "exp_range") and scale_fn is None:
    raise ValueError(
      f"CyclicLR: mode={mode!r} is invalid and scale_fn is None; expected "
      "'triangular', 'triangular2' or 'exp_range'."
    )
  if scale_mode not in ("cycle", "iterations"):
    raise ValueError(
      f"CyclicLR: scale_mode={scale_mode!r} is invalid; expected 'cycle' or 'iterations'."
    )
  _checks.positive("CyclicLR", "step_size_up", step_size_up)
  up = float(step_size_up)
  down = float(step_size_down) if step_size_down is not None else up
  _checks.non_negative("CyclicLR", "base_lr", base_lr)
  rule = CyclicRule(
    base_lr,
    max_lr,
    up,
    down,
    mode,
    gamma,
    scale_fn,
    scale_mode,
    cycle_momentum,
    base_momentum,
    max_momentum,
  )
  return build("CyclicLR", optimizer, rule, last_epoch, steps_per_epoch)


def OneCycleLR(
  optimizer: Any,
  max_lr: Any,
  total_steps: int | None = None,
  epochs: int | None = None,
  steps_per_epoch: int | None = None,
  pct_start: float = 0.3,
  anneal_strategy: str = "cos",
  cycle_momentum: bool = True,
  base_momentum: Any = 0.85,
  max_momentum: Any = 0.95,
  div_factor: Any = 25.0,
  final_div_factor: Any = 1e4,
  three_phase: bool = False,
  last_epoch: int = -1,
) -> Scheduled:
  r"""`torch.optim.lr_scheduler.OneCycleLR`: the 1cycle policy (Smith & Topin, 2018).

  $$
  \begin{aligned}
  \eta_{\mathrm{init}} &= \eta_{\max} / d, \qquad
  \eta_{\min} = \eta_{\mathrm{init}} / d_f, \qquad
  a_{\cos}(u, v, p) = v + \tfrac{u - v}{2} (1 + \cos \pi p), \quad
  a_{\mathrm{lin}}(u, v, p) = u + (v - u)\, p, \\
  \eta_e &= a(\eta_{\mathrm{init}}, \eta_{\max}, \tfrac{e}{E_1}) \ (e \le E_1), \qquad
  \eta_e = a(\eta_{\max}, \eta_{\min}, \tfrac{e - E_1}{E_2 - E_1}) \ (E_1 < e \le E_2),
  \end{aligned}
  $$

  with $E_1 = p_s N - 1$, $E_2 = N - 1$, $N$ = `total_steps` (or `epochs * steps_per_epoch`),
  $p_s$ = `pct_start`, $d$ = `div_factor`, $d_f$ = `final_div_factor`, $a$ the `anneal_strategy`,
  $e$ the scheduler's epoch (`last_epoch`). `three_phase`: up to $\eta_{\max}$ by $E_1$, back to
  $\eta_{\mathrm{init}}$ by $2 p_s N - 2$, then to $\eta_{\min}$ by $N - 1$. With `cycle_momentum`
  the momentum (beta1) moves the other way, between `max_momentum` and `base_momentum`. Here
  `steps_per_epoch` is PyTorch's: it only sizes the cycle, which steps every update; past
  `total_steps` PyTorch raises, the rate here becomes NaN.

  Defaults: `total_steps=None`, `epochs=None`, `steps_per_epoch=None`, `pct_start=0.3`,
  `anneal_strategy="cos"`, `cycle_momentum=True`, `base_momentum=0.85`, `max_momentum=0.95`,
  `div_factor=25.0`, `final_div_factor=1e4`, `three_phase=False`, `last_epoch=-1`
  (torch.optim.lr_scheduler.OneCycleLR, PyTorch 2.x).

  Args:
    optimizer: a `gradtx.torch_optim` (or named gradtx) optimizer with a numeric `lr`.
    max_lr: $\eta_{\max}$.
    total_steps: $N$, the updates of the cycle.
    epochs: with `steps_per_epoch`, $N$ = `epochs * steps_per_epoch`.
    steps_per_epoch: see `epochs` (PyTorch's meaning, not gradtx's).
    pct_start: $p_s$, the fraction of the cycle spent rising.
    anneal_strategy: `"cos"` or `"linear"`: $a$.
    cycle_momentum: cycle the optimizer's momentum (beta1) too.
    base_momentum: the momentum at the top of the rate.
    max_momentum: the momentum at the bottom of the rate.
    div_factor: $d$.
    final_div_factor: $d_f$.
    three_phase: the three-phase schedule.
    last_epoch: -1 only (resume by restoring the saved gradtx state).
  """
  if total_steps is not None:
    check_int("OneCycleLR", "total_steps", total_steps, 1)
  elif epochs is not None and steps_per_epoch is not None:
    check_int("OneCycleLR", "epochs", epochs, 1)
    check_int("OneCycleLR", "steps_per_epoch", steps_per_epoch, 1)
    total_steps = epochs * steps_per_epoch
  else:
    raise ValueError(
      "OneCycleLR: You must define either total_steps OR (epochs AND steps_per_epoch)"
    )
  if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
    raise ValueError(f"OneCycleLR: pct_start={pct_start!r} is invalid; expected a float in [0, 1].")
  if anneal_strategy not in ("cos", "linear"):
    raise ValueError(
      f"OneCycleLR: anneal_strategy={anneal_strategy!r} is invalid; expected 'cos' or 'linear'."
    )
  rule = OneCycleRule(
    max_lr,
    total_steps,
    pct_start,
    anneal_strategy,
    cycle_momentum,
    base_momentum,
    max_momentum,
    div_factor,
    final_div_factor,
    three_phase,
  )
  return build("OneCycleLR", optimizer, rule, last_epoch, None)


def ReduceLROnPlateau(
  optimizer: Any,
  mode: str = "min",
  factor: Any = 0.1,
  patience: int = 10,
  threshold: Any = 1e-4,
  threshold_mode: str = "rel",
  cooldown: int = 0,
  min_lr: Any = 0.0,
  eps: Any = 1e-8,
  *,
  steps_per_epoch: Any = None,
) -> Scheduled:
  r"""`torch.optim.lr_scheduler.ReduceLROnPlateau`: lower the rate when the metric stalls.

  With $f_e$ the metric of update $e$ (`update(..., value=loss)`), mode `min`,
  `threshold_mode="rel"` ($f^*$ the best so far, $b_e$ the bad-epoch count):

  $$
  b_e = \begin{cases} 0 & f_e < f^* (1 - \tau), \\ b_{e-1} + 1 & \text{otherwise,}
  \end{cases} \qquad
  \eta_{e+1} = \begin{cases} \max(\phi\, \eta_e, \eta_{\min})
    & b_e > P \text{ and } \eta_e - \max(\phi\, \eta_e, \eta_{\min}) > \epsilon, \\
    \eta_e & \text{otherwise,} \end{cases}
  $$

  with $\phi$ = `factor`, $P$ = `patience`, $\tau$ = `threshold`, $\eta_{\min}$ = `min_lr`;
  `threshold_mode="abs"` compares with $f^* - \tau$, mode `max` with $f^* (1 + \tau)$ or $f^* +
  \tau$. After a reduction $b$ restarts at 0 and stays 0 for `cooldown` epochs.

  Defaults: `mode="min"`, `factor=0.1`, `patience=10`, `threshold=1e-4`,
  `threshold_mode="rel"`, `cooldown=0`, `min_lr=0`, `eps=1e-8`
  (torch.optim.lr_scheduler.ReduceLROnPlateau, PyTorch 2.x); `steps_per_epoch=None`
  (gradtx's).

  Args:
    optimizer: a `gradtx.torch_optim` (or named gradtx) optimizer with a numeric `lr`.
    mode: `"min"` or `"max"`: whether lower or higher is better.
    factor: $\phi < 1$.
    patience: $P$, bad epochs tolerated.
    threshold: $\tau$, the improvement that counts.
    threshold_mode: `"rel"` or `"abs"`.
    cooldown: epochs without counting after a reduction.
    min_lr: $\eta_{\min}$.
    eps: $\epsilon$, the smallest change applied.
    steps_per_epoch: gradtx's: step the scheduler once every this many updates.
  """
  if mode not in ("min", "max"):
    raise ValueError(f"ReduceLROnPlateau: mode={mode!r} is unknown; expected 'min' or 'max'.")
  if threshold_mode not in ("rel", "abs"):
    raise ValueError(
      f"ReduceLROnPlateau: threshold_mode={threshold_mode!r} is unknown; expected 'rel' or 'abs'."
    )
  _checks.check("ReduceLROnPlateau", "factor", factor, lambda v: v < 1, "a value < 1.0")
  check_int("ReduceLROnPlateau", "patience", patience, 0)
  check_int("ReduceLROnPlateau", "cooldown", cooldown, 0)
  rule = PlateauRule(mode, factor, patience, threshold, threshold_mode, cooldown, min_lr, eps)
  return build("ReduceLROnPlateau", optimizer, rule, -1, steps_per_epoch)
