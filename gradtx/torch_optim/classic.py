"""`torch.optim` SGD, RMSprop, Adagrad, Adadelta, Rprop, ASGD as short gradtx chains.

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
from gradtx.core.protocol import GradientTransformation, identity
from gradtx.primitives.adaptive.adadelta import scale_by_adadelta
from gradtx.primitives.adaptive.adagrad import scale_by_rss
from gradtx.primitives.adaptive.resilient import scale_by_rprop
from gradtx.primitives.adaptive.rmsprop import scale_by_rms, scale_by_stddev
from gradtx.primitives.moments.dampened import dampened_trace
from gradtx.primitives.moments.momentum import trace
from gradtx.primitives.scaling.asgd import scale_by_asgd
from gradtx.primitives.scaling.scaling import scale, scale_by_learning_rate, scale_by_schedule
from gradtx.schedules import inverse_time_decay
from gradtx.torch_optim._common import check_common, check_lr, is_zero, l2_stage, maximize_stage

__all__ = ["SGD", "RMSprop", "Adagrad", "Adadelta", "Rprop", "ASGD"]


def _number_lr(owner: str, lr: Any) -> None:
  """Rprop and ASGD keep `lr` in their state (the initial step size / `eta`): a number."""
  if callable(lr):
    raise TypeError(
      f"{owner}: lr must be a number (it is read into the optimizer's state); "
      "schedule it with gradtx.torch_optim.lr_scheduler instead."
    )


def _SGD(
  lr: Any = 1e-3,
  momentum: Any = 0.0,
  dampening: Any = 0.0,
  weight_decay: Any = 0.0,
  nesterov: bool = False,
  *,
  maximize: bool = False,
  foreach: Any = None,
  differentiable: bool = False,
  fused: Any = None,
) -> GradientTransformation:
  r"""`torch.optim.SGD`: stochastic gradient descent with momentum, PyTorch's algorithm.

  With $\gamma$ = `lr`, $\mu$ = `momentum`, $\tau$ = `dampening`, $\lambda$ = `weight_decay`:

  $$
  \begin{aligned}
  g_t &\leftarrow g_t + \lambda \theta_{t-1}, \qquad
  b_1 = g_1, \qquad b_t = \mu\, b_{t-1} + (1 - \tau)\, g_t \quad (t > 1), \\
  \theta_t &= \theta_{t-1} - \gamma\, b_t
    \quad \text{(Nesterov: } \theta_t = \theta_{t-1} - \gamma\, (g_t + \mu\, b_t) \text{)}
  \end{aligned}
  $$

  ($\mu = 0$: $\theta_t = \theta_{t-1} - \gamma g_t$). With $\tau = 0$ the momentum stage is
  `trace`, as in `gradtx.sgd`; otherwise `dampened_trace`.

  Defaults: `lr=1e-3`, `momentum=0`, `dampening=0`, `weight_decay=0`, `nesterov=False`
  (torch.optim.SGD, PyTorch 2.x).

  Args:
    lr: $\gamma$, a number (a scheduler may drive it).
    momentum: $\mu$.
    dampening: $\tau$.
    weight_decay: $\lambda$ (coupled L2).
    nesterov: Nesterov momentum (needs $\mu > 0$, $\tau = 0$).
    maximize: ascend: $g_t \leftarrow -g_t$ first.
    foreach: PyTorch's kernel choice; accepted, changes nothing.
    differentiable: PyTorch's kernel choice; accepted, changes nothing.
    fused: PyTorch's kernel choice; accepted, changes nothing.
  """
  check_common("SGD", lr, 0.0, weight_decay)
  _checks.non_negative("SGD", "momentum", momentum)
  if nesterov and (is_zero(momentum) or not is_zero(dampening)):
    raise ValueError(
      "SGD: nesterov=True is invalid with momentum="
      f"{momentum!r}, dampening={dampening!r}; Nesterov momentum requires "
      "a momentum > 0 and dampening=0."
    )
  if is_zero(momentum):
    stage = identity()
  elif is_zero(dampening):
    stage = trace(momentum, nesterov)
  else:
    stage = dampened_trace(momentum, dampening, nesterov)
  return chain(maximize_stage(maximize), l2_stage(weight_decay), stage, scale_by_learning_rate(lr))


def _RMSprop(
  lr: Any = 1e-2,
  alpha: Any = 0.99,
  eps: Any = 1e-8,
  weight_decay: Any = 0.0,
  momentum: Any = 0.0,
  centered: bool = False,
  capturable: bool = False,
  foreach: Any = None,
  maximize: bool = False,
  differentiable: bool = False,
) -> GradientTransformation:
  r"""`torch.optim.RMSprop` (Tieleman & Hinton, 2012), PyTorch's algorithm.

  With $\gamma$ = `lr`, $\alpha$ = `alpha`, $\mu$ = `momentum`, $\lambda$ = `weight_decay`,
  $S_0 = M_0 = b_0 = 0$:

  $$
  \begin{aligned}
  g_t &\leftarrow g_t + \lambda \theta_{t-1}, \qquad
  S_t = \alpha S_{t-1} + (1 - \alpha)\, g_t^2, \qquad
  \tilde S_t = S_t \quad \big(\text{centered: } M_t = \alpha M_{t-1} + (1 - \alpha)\, g_t,\
    \tilde S_t = \max(S_t - M_t^2, 0)\big), \\
  b_t &= \mu\, b_{t-1} + \frac{g_t}{\sqrt{\tilde S_t} + \epsilon}, \qquad
  \theta_t = \theta_{t-1} - \gamma\, b_t
  \end{aligned}
  $$

  ($\mu = 0$: $b_t = g_t / (\sqrt{\tilde S_t} + \epsilon)$). `scale_by_rms` or
  `scale_by_stddev` with $\epsilon$ outside the root, then `trace`.

  Defaults: `lr=1e-2`, `alpha=0.99`, `eps=1e-8`, `weight_decay=0`, `momentum=0`,
  `centered=False` (torch.optim.RMSprop, PyTorch 2.x).

  Args:
    lr: $\gamma$, a number (a scheduler may drive it).
    alpha: $\alpha$, the decay of the squared average.
    eps: $\epsilon$, added to the root.
    weight_decay: $\lambda$ (coupled L2).
    momentum: $\mu$.
    centered: divide by the estimated standard deviation (Graves, 2013).
    capturable: PyTorch's kernel choice; accepted, changes nothing.
    foreach: PyTorch's kernel choice; accepted, changes nothing.
    maximize: ascend: $g_t \leftarrow -g_t$ first.
    differentiable: PyTorch's kernel choice; accepted, changes nothing.
  """
  check_common("RMSprop", lr, eps, weight_decay)
  _checks.non_negative("RMSprop", "alpha", alpha)
  _checks.non_negative("RMSprop", "momentum", momentum)
  scaler = scale_by_stddev if centered else scale_by_rms
  return chain(
    maximize_stage(maximize),
    l2_stage(weight_decay),
    scaler(alpha, eps, 0.0, eps_in_sqrt=False),
    identity() if is_zero(momentum) else trace(momentum),
    scale_by_learning_rate(lr),
  )


def _Adagrad(
  lr: Any = 1e-2,
  lr_decay: Any = 0.0,
  weight_decay: Any = 0.0,
  initial_accumulator_value: Any = 0.0,
  eps: Any = 1e-10,
  foreach: Any = None,
  *,
  maximize: bool = False,
  differentiable: bool = False,
  fused: Any = None,
) -> GradientTransformation:
  r"""`torch.optim.Adagrad` (Duchi et al., 2011), PyTorch's algorithm.

  With $\gamma$ = `lr`, $\eta$ = `lr_decay`, $\lambda$ = `weight_decay`, $G_0$ =
  `initial_accumulator_value`:

  $$
  g_t \leftarrow g_t + \lambda \theta_{t-1}, \qquad
  G_t = G_{t-1} + g_t^2, \qquad
  \theta_t = \theta_{t-1} - \frac{\gamma}{1 + (t - 1)\, \eta}\, \frac{g_t}{\sqrt{G_t} + \epsilon}
  $$

  (`scale_by_rss` with $\epsilon$ outside the root, then `inverse_time_decay`).

  Defaults: `lr=1e-2`, `lr_decay=0`, `weight_decay=0`, `initial_accumulator_value=0`,
  `eps=1e-10` (torch.optim.Adagrad, PyTorch 2.x).

  Args:
    lr: $\gamma$, a number (a scheduler may drive it).
    lr_decay: $\eta$.
    weight_decay: $\lambda$ (coupled L2).
    initial_accumulator_value: $G_0$.
    eps: $\epsilon$, added to the root.
    foreach: PyTorch's kernel choice; accepted, changes nothing.
    maximize: ascend: $g_t \leftarrow -g_t$ first.
    differentiable: PyTorch's kernel choice; accepted, changes nothing.
    fused: PyTorch's kernel choice; accepted, changes nothing.
  """
  check_common("Adagrad", lr, eps, weight_decay)
  _checks.non_negative("Adagrad", "lr_decay", lr_decay)
  _checks.non_negative("Adagrad", "initial_accumulator_value", initial_accumulator_value)
  decay = identity() if is_zero(lr_decay) else scale_by_schedule(inverse_time_decay(1.0, lr_decay))
  return chain(
    maximize_stage(maximize),
    l2_stage(weight_decay),
    scale_by_rss(initial_accumulator_value, eps, eps_in_sqrt=False),
    decay,
    scale_by_learning_rate(lr),
  )


def _Adadelta(
  lr: Any = 1.0,
  rho: Any = 0.9,
  eps: Any = 1e-6,
  weight_decay: Any = 0.0,
  foreach: Any = None,
  *,
  capturable: bool = False,
  maximize: bool = False,
  differentiable: bool = False,
) -> GradientTransformation:
  r"""`torch.optim.Adadelta` (Zeiler, 2012), PyTorch's algorithm.

  With $\gamma$ = `lr`, $\lambda$ = `weight_decay`, both averages starting at 0:

  $$
  \begin{aligned}
  g_t &\leftarrow g_t + \lambda \theta_{t-1}, \qquad
  v_t = \rho\, v_{t-1} + (1 - \rho)\, g_t^2, \qquad
  \Delta x_t = \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\, g_t, \\
  u_t &= \rho\, u_{t-1} + (1 - \rho)\, \Delta x_t^2, \qquad
  \theta_t = \theta_{t-1} - \gamma\, \Delta x_t
  \end{aligned}
  $$

  (`scale_by_adadelta`, then the learning rate).

  Defaults: `lr=1.0`, `rho=0.9`, `eps=1e-6`, `weight_decay=0`
  (torch.optim.Adadelta, PyTorch 2.x).

  Args:
    lr: $\gamma$, a number (a scheduler may drive it).
    rho: $\rho$, the decay of both averages.
    eps: $\epsilon$, under both roots.
    weight_decay: $\lambda$ (coupled L2).
    foreach: PyTorch's kernel choice; accepted, changes nothing.
    capturable: PyTorch's kernel choice; accepted, changes nothing.
    maximize: ascend: $g_t \leftarrow -g_t$ first.
    differentiable: PyTorch's kernel choice; accepted, changes nothing.
  """
  check_common("Adadelta", lr, eps, weight_decay)
  _checks.unit_interval("Adadelta", "rho", rho)
  return chain(
    maximize_stage(maximize),
    l2_stage(weight_decay),
    scale_by_adadelta(rho, eps),
    scale_by_learning_rate(lr),
  )


def _Rprop(
  lr: Any = 1e-2,
  etas: Any = (0.5, 1.2),
  step_sizes: Any = (1e-6, 50.0),
  *,
  capturable: bool = False,
  foreach: Any = None,
  maximize: bool = False,
  differentiable: bool = False,
) -> GradientTransformation:
  r"""`torch.optim.Rprop`: resilient backpropagation (Riedmiller & Braun, 1993), iRprop-.

  With $s = g_t\, g_{t-1}$ elementwise ($g_{t-1}$ set to 0 where the sign flipped),
  $(\eta^-, \eta^+)$ = `etas`, $\operatorname{clip}$ to `step_sizes`, $\Delta_0$ = `lr`:

  $$
  \Delta_t = \begin{cases}
    \operatorname{clip}(\eta^+ \Delta_{t-1}) & s > 0, \\
    \operatorname{clip}(\eta^- \Delta_{t-1}) & s < 0, \\
    \operatorname{clip}(\Delta_{t-1}) & s = 0,
  \end{cases} \qquad
  \theta_t = \theta_{t-1} - \begin{cases} 0 & s < 0, \\
    \Delta_t \operatorname{sign}(g_t) & \text{otherwise}
  \end{cases}
  $$

  (`scale_by_rprop`, then `scale(-1)`). `lr` is read once, at `init`, into the state.

  Defaults: `lr=1e-2`, `etas=(0.5, 1.2)`, `step_sizes=(1e-6, 50)`
  (torch.optim.Rprop, PyTorch 2.x).

  Args:
    lr: $\Delta_0$, the initial step of every coordinate (a number).
    etas: $(\eta^-, \eta^+)$, with $0 < \eta^- < 1 < \eta^+$.
    step_sizes: the smallest and largest step.
    capturable: PyTorch's kernel choice; accepted, changes nothing.
    foreach: PyTorch's kernel choice; accepted, changes nothing.
    maximize: ascend: $g_t \leftarrow -g_t$ first.
    differentiable: PyTorch's kernel choice; accepted, changes nothing.
  """
  check_lr("Rprop", lr)
  _number_lr("Rprop", lr)
  _checks.check(
    "Rprop",
    "etas",
    etas,
    lambda v: (v.shape == (2,)) and (0 < v[0] < 1 < v[1]),
    "a pair (etaminus, etaplus) with 0 < etaminus < 1 < etaplus",
  )
  return chain(
    maximize_stage(maximize),
    scale_by_rprop(lr, etas[0], etas[1], step_sizes[0], step_sizes[1]),
    scale(-1.0),
  )


def _ASGD(
  lr: Any = 1e-2,
  lambd: Any = 1e-4,
  alpha: Any = 0.75,
  t0: Any = 1e6,
  weight_decay: Any = 0.0,
  foreach: Any = None,
  maximize: bool = False,
  differentiable: bool = False,
  capturable: bool = False,
) -> GradientTransformation:
  r"""`torch.optim.ASGD`: averaged SGD (Polyak & Juditsky, 1992) with Bottou's (2012) step.

  With $\gamma$ = `lr`, $\lambda_w$ = `weight_decay`, $\eta_1 = \gamma$, $\mu_1 = 1$:

  $$
  \begin{aligned}
  g_t &\leftarrow g_t + \lambda_w \theta_{t-1}, \qquad
  \theta_t = \theta_{t-1} (1 - \lambda \eta_t) - \eta_t\, g_t, \qquad
  a_t = a_{t-1} + \mu_t (\theta_t - a_{t-1}), \\
  \eta_{t+1} &= \frac{\gamma}{(1 + \lambda \gamma t)^{\alpha}}, \qquad
  \mu_{t+1} = \frac{1}{\max(1, t - t_0)}
  \end{aligned}
  $$

  (`scale_by_asgd`; the update needs `params`). The average $a_t$ is
  `gradtx.torch_optim.asgd_average(state)`; `lr` is read once, at `init`.

  Defaults: `lr=1e-2`, `lambd=1e-4`, `alpha=0.75`, `t0=1e6`, `weight_decay=0`
  (torch.optim.ASGD, PyTorch 2.x).

  Args:
    lr: $\gamma$, the initial step (a number).
    lambd: $\lambda$, the decay term.
    alpha: $\alpha$, the power of the step's decay.
    t0: $t_0$, the step averaging starts after.
    weight_decay: $\lambda_w$ (coupled L2).
    foreach: PyTorch's kernel choice; accepted, changes nothing.
    maximize: ascend: $g_t \leftarrow -g_t$ first.
    differentiable: PyTorch's kernel choice; accepted, changes nothing.
    capturable: PyTorch's kernel choice; accepted, changes nothing.
  """
  check_common("ASGD", lr, 0.0, weight_decay)
  _number_lr("ASGD", lr)
  return chain(
    maximize_stage(maximize), l2_stage(weight_decay), scale_by_asgd(lr, lambd, alpha, t0)
  )


SGD = named_optimizer(_SGD)
RMSprop = named_optimizer(_RMSprop)
Adagrad = named_optimizer(_Adagrad)
Adadelta = named_optimizer(_Adadelta)
Rprop = named_optimizer(_Rprop)
ASGD = named_optimizer(_ASGD)
