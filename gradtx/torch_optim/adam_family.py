"""`torch.optim` Adam, AdamW, Adamax, NAdam, RAdam as short gradtx chains.

Each factory takes `torch.optim`'s keyword arguments and defaults (no
`params`) and returns a `NamedOptimizer`. Arguments that only choose
PyTorch's kernels (`foreach`, `fused`, `capturable`, `differentiable`) are
accepted and change nothing.
"""

from __future__ import annotations

from typing import Any

from gradtx.combinators.combine import chain
from gradtx.core import checks as _checks
from gradtx.core.named import named_optimizer
from gradtx.core.protocol import GradientTransformation
from gradtx.primitives.decay.weight_decay import add_decayed_weights
from gradtx.primitives.moments.adam import scale_by_adam, scale_by_adamax, scale_by_amsgrad
from gradtx.primitives.moments.nadam import scale_by_nadam
from gradtx.primitives.moments.radam import scale_by_radam
from gradtx.primitives.scaling.scaling import scale_by_learning_rate
from gradtx.torch_optim._common import check_betas, check_common, is_zero, l2_stage, maximize_stage

__all__ = ["Adam", "AdamW", "Adamax", "NAdam", "RAdam"]


def _with_decay(
  core: GradientTransformation, lr: Any, weight_decay: Any, decoupled: bool, maximize: bool
) -> GradientTransformation:
  """`maximize`, then coupled L2 decay before `core` or decoupled decay after it, then `-lr`."""
  if decoupled:
    decay = add_decayed_weights(weight_decay) if not is_zero(weight_decay) else None
    stages = [maximize_stage(maximize), core] + ([decay] if decay else [])
  else:
    stages = [maximize_stage(maximize), l2_stage(weight_decay), core]
  return chain(*stages, scale_by_learning_rate(lr))


def _Adam(
  lr: Any = 1e-3,
  betas: Any = (0.9, 0.999),
  eps: Any = 1e-8,
  weight_decay: Any = 0.0,
  amsgrad: bool = False,
  *,
  foreach: Any = None,
  maximize: bool = False,
  capturable: bool = False,
  differentiable: bool = False,
  fused: Any = None,
  decoupled_weight_decay: bool = False,
) -> GradientTransformation:
  r"""`torch.optim.Adam` (Kingma & Ba, 2014), PyTorch's algorithm.

  With $\gamma$ = `lr`, $\lambda$ = `weight_decay`, $m_0 = v_0 = 0$:

  $$
  \begin{aligned}
  g_t &\leftarrow g_t + \lambda \theta_{t-1}, \qquad
  m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
  v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2, \\
  \theta_t &= \theta_{t-1} - \gamma\, \frac{m_t / (1 - \beta_1^t)}
    {\sqrt{v_t / (1 - \beta_2^t)} + \epsilon}
  \end{aligned}
  $$

  (coupled L2 decay; `decoupled_weight_decay=True` drops the first line and decays as
  `AdamW`). `amsgrad=True` keeps $v^{\max}_t = \max(v^{\max}_{t-1}, v_t)$ and uses it for
  $v_t$ (the raw maximum, corrected after, as PyTorch: `scale_by_amsgrad(raw_max=True)`).

  Defaults: `lr=1e-3`, `betas=(0.9, 0.999)`, `eps=1e-8`, `weight_decay=0`,
  `amsgrad=False` (torch.optim.Adam, PyTorch 2.x).

  Args:
    lr: $\gamma$, a number (a scheduler may drive it).
    betas: $(\beta_1, \beta_2)$, the decays of the two moments.
    eps: $\epsilon$, added to the root.
    weight_decay: $\lambda$.
    amsgrad: PyTorch's AMSGrad (maximum of the raw second moment).
    foreach: PyTorch's kernel choice; accepted, changes nothing.
    maximize: ascend: $g_t \leftarrow -g_t$ first.
    capturable: PyTorch's kernel choice; accepted, changes nothing.
    differentiable: PyTorch's kernel choice; accepted, changes nothing.
    fused: PyTorch's kernel choice; accepted, changes nothing.
    decoupled_weight_decay: decay $\theta$ as AdamW instead of adding $\lambda\theta$ to $g$.
  """
  check_common("Adam", lr, eps, weight_decay)
  check_betas("Adam", betas)
  b1, b2 = betas
  core = scale_by_amsgrad(b1, b2, eps, raw_max=True) if amsgrad else scale_by_adam(b1, b2, eps)
  return _with_decay(core, lr, weight_decay, decoupled_weight_decay, maximize)


def _AdamW(
  lr: Any = 1e-3,
  betas: Any = (0.9, 0.999),
  eps: Any = 1e-8,
  weight_decay: Any = 1e-2,
  amsgrad: bool = False,
  *,
  maximize: bool = False,
  foreach: Any = None,
  capturable: bool = False,
  differentiable: bool = False,
  fused: Any = None,
) -> GradientTransformation:
  r"""`torch.optim.AdamW`: Adam with decoupled weight decay (Loshchilov & Hutter, 2019).

  With $\gamma$ = `lr`, $\lambda$ = `weight_decay`, $m_0 = v_0 = 0$:

  $$
  \begin{aligned}
  m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
  v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2, \\
  \theta_t &= \theta_{t-1} - \gamma \Big(\frac{m_t / (1 - \beta_1^t)}
    {\sqrt{v_t / (1 - \beta_2^t)} + \epsilon} + \lambda \theta_{t-1}\Big)
  \end{aligned}
  $$

  (PyTorch's $\theta \leftarrow \theta (1 - \gamma\lambda)$ then the Adam step, the same
  thing). `amsgrad=True` uses $\max(v^{\max}_{t-1}, v_t)$ for $v_t$, as `Adam`.

  Defaults: `lr=1e-3`, `betas=(0.9, 0.999)`, `eps=1e-8`, `weight_decay=1e-2`,
  `amsgrad=False` (torch.optim.AdamW, PyTorch 2.x).

  Args:
    lr: $\gamma$, a number (a scheduler may drive it).
    betas: $(\beta_1, \beta_2)$, the decays of the two moments.
    eps: $\epsilon$, added to the root.
    weight_decay: $\lambda$, decoupled.
    amsgrad: PyTorch's AMSGrad (maximum of the raw second moment).
    maximize: ascend: $g_t \leftarrow -g_t$ first.
    foreach: PyTorch's kernel choice; accepted, changes nothing.
    capturable: PyTorch's kernel choice; accepted, changes nothing.
    differentiable: PyTorch's kernel choice; accepted, changes nothing.
    fused: PyTorch's kernel choice; accepted, changes nothing.
  """
  check_common("AdamW", lr, eps, weight_decay)
  check_betas("AdamW", betas)
  b1, b2 = betas
  core = scale_by_amsgrad(b1, b2, eps, raw_max=True) if amsgrad else scale_by_adam(b1, b2, eps)
  return _with_decay(core, lr, weight_decay, True, maximize)


def _Adamax(
  lr: Any = 2e-3,
  betas: Any = (0.9, 0.999),
  eps: Any = 1e-8,
  weight_decay: Any = 0.0,
  foreach: Any = None,
  *,
  maximize: bool = False,
  differentiable: bool = False,
  capturable: bool = False,
) -> GradientTransformation:
  r"""`torch.optim.Adamax`: Adam with the infinity norm (Kingma & Ba, 2014, section 7).

  With $\gamma$ = `lr`, $\lambda$ = `weight_decay`, $m_0 = u_0 = 0$:

  $$
  \begin{aligned}
  g_t &\leftarrow g_t + \lambda \theta_{t-1}, \qquad
  m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
  u_t = \max(\beta_2 u_{t-1}, |g_t| + \epsilon), \\
  \theta_t &= \theta_{t-1} - \frac{\gamma}{1 - \beta_1^t}\, \frac{m_t}{u_t}
  \end{aligned}
  $$

  (`scale_by_adamax`).

  Defaults: `lr=2e-3`, `betas=(0.9, 0.999)`, `eps=1e-8`, `weight_decay=0`
  (torch.optim.Adamax, PyTorch 2.x).

  Args:
    lr: $\gamma$, a number (a scheduler may drive it).
    betas: $(\beta_1, \beta_2)$: the decay of $m$ and of the infinity norm $u$.
    eps: $\epsilon$, added to $|g_t|$.
    weight_decay: $\lambda$ (coupled L2).
    foreach: PyTorch's kernel choice; accepted, changes nothing.
    maximize: ascend: $g_t \leftarrow -g_t$ first.
    differentiable: PyTorch's kernel choice; accepted, changes nothing.
    capturable: PyTorch's kernel choice; accepted, changes nothing.
  """
  check_common("Adamax", lr, eps, weight_decay)
  check_betas("Adamax", betas)
  return _with_decay(scale_by_adamax(betas[0], betas[1], eps), lr, weight_decay, False, maximize)


def _NAdam(
  lr: Any = 2e-3,
  betas: Any = (0.9, 0.999),
  eps: Any = 1e-8,
  weight_decay: Any = 0.0,
  momentum_decay: Any = 4e-3,
  decoupled_weight_decay: bool = False,
  *,
  foreach: Any = None,
  maximize: bool = False,
  capturable: bool = False,
  differentiable: bool = False,
) -> GradientTransformation:
  r"""`torch.optim.NAdam`: Adam with Nesterov momentum and Dozat's (2016) momentum schedule.

  With $\gamma$ = `lr`, $\lambda$ = `weight_decay`, $\psi$ = `momentum_decay`,
  $m_0 = v_0 = 0$:

  $$
  \begin{aligned}
  g_t &\leftarrow g_t + \lambda \theta_{t-1}, \qquad
  \mu_t = \beta_1 \big(1 - \tfrac12\, 0.96^{t \psi}\big), \qquad
  P_t = \textstyle\prod_{i \le t} \mu_i, \\
  m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
  v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2, \qquad
  d_t = \sqrt{v_t / (1 - \beta_2^t)} + \epsilon, \\
  \theta_t &= \theta_{t-1} - \gamma \Big(\frac{1 - \mu_t}{1 - P_t} \frac{g_t}{d_t}
    + \frac{\mu_{t+1}}{1 - P_t \mu_{t+1}} \frac{m_t}{d_t}\Big)
  \end{aligned}
  $$

  (`scale_by_nadam`). `decoupled_weight_decay=True` drops the L2 term and decays
  $\theta_{t-1}$ by $\gamma\lambda$ instead (PyTorch's NAdamW).

  Defaults: `lr=2e-3`, `betas=(0.9, 0.999)`, `eps=1e-8`, `weight_decay=0`,
  `momentum_decay=4e-3` (torch.optim.NAdam, PyTorch 2.x).

  Args:
    lr: $\gamma$, a number (a scheduler may drive it).
    betas: $(\beta_1, \beta_2)$: the scale of the momentum schedule and decay of $m$, and
      the decay of $v$.
    eps: $\epsilon$, added to the root.
    weight_decay: $\lambda$.
    momentum_decay: $\psi$.
    decoupled_weight_decay: decay $\theta$ as AdamW instead of adding $\lambda\theta$ to $g$.
    foreach: PyTorch's kernel choice; accepted, changes nothing.
    maximize: ascend: $g_t \leftarrow -g_t$ first.
    capturable: PyTorch's kernel choice; accepted, changes nothing.
    differentiable: PyTorch's kernel choice; accepted, changes nothing.
  """
  check_common("NAdam", lr, eps, weight_decay)
  check_betas("NAdam", betas)
  _checks.non_negative("NAdam", "momentum_decay", momentum_decay)
  return _with_decay(
    scale_by_nadam(betas[0], betas[1], eps, momentum_decay),
    lr,
    weight_decay,
    decoupled_weight_decay,
    maximize,
  )


def _RAdam(
  lr: Any = 1e-3,
  betas: Any = (0.9, 0.999),
  eps: Any = 1e-8,
  weight_decay: Any = 0.0,
  decoupled_weight_decay: bool = False,
  *,
  foreach: Any = None,
  maximize: bool = False,
  capturable: bool = False,
  differentiable: bool = False,
) -> GradientTransformation:
  r"""`torch.optim.RAdam`: rectified Adam (Liu et al., 2019), PyTorch's placement of $\epsilon$.

  With $\gamma$ = `lr`, $\lambda$ = `weight_decay`, $m_0 = v_0 = 0$, Adam's $m_t$, $v_t$
  (on $g_t \leftarrow g_t + \lambda \theta_{t-1}$) and
  $\hat m_t = m_t / (1 - \beta_1^t)$:

  $$
  \begin{aligned}
  \rho_\infty &= \frac{2}{1 - \beta_2} - 1, \qquad
  \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1 - \beta_2^t}, \qquad
  r_t = \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\, \rho_\infty}
    {(\rho_\infty - 4)(\rho_\infty - 2)\, \rho_t}}, \\
  \theta_t &= \theta_{t-1} - \gamma \begin{cases}
    r_t\, \hat m_t \sqrt{1 - \beta_2^t} / (\sqrt{v_t} + \epsilon) & \rho_t \ge 5, \\
    \hat m_t & \text{otherwise}
  \end{cases}
  \end{aligned}
  $$

  (`scale_by_radam(raw_eps=True)`, threshold 5; PyTorch tests $\rho_t > 5$, which differs
  only where $\rho_t = 5$ exactly). `decoupled_weight_decay=True` drops the L2 term and
  decays $\theta_{t-1}$ by $\gamma\lambda$ instead.

  Defaults: `lr=1e-3`, `betas=(0.9, 0.999)`, `eps=1e-8`, `weight_decay=0`
  (torch.optim.RAdam, PyTorch 2.x).

  Args:
    lr: $\gamma$, a number (a scheduler may drive it).
    betas: $(\beta_1, \beta_2)$, the decays of the two moments.
    eps: $\epsilon$, added to $\sqrt{v_t}$.
    weight_decay: $\lambda$.
    decoupled_weight_decay: decay $\theta$ as AdamW instead of adding $\lambda\theta$ to $g$.
    foreach: PyTorch's kernel choice; accepted, changes nothing.
    maximize: ascend: $g_t \leftarrow -g_t$ first.
    capturable: PyTorch's kernel choice; accepted, changes nothing.
    differentiable: PyTorch's kernel choice; accepted, changes nothing.
  """
  check_common("RAdam", lr, eps, weight_decay)
  check_betas("RAdam", betas)
  core = scale_by_radam(betas[0], betas[1], eps, 0.0, 5.0, raw_eps=True)
  return _with_decay(core, lr, weight_decay, decoupled_weight_decay, maximize)


Adam = named_optimizer(_Adam)
AdamW = named_optimizer(_AdamW)
Adamax = named_optimizer(_Adamax)
NAdam = named_optimizer(_NAdam)
RAdam = named_optimizer(_RAdam)
