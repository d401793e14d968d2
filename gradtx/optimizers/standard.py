"""Named optimizers of the Adam family: short chains of the primitives, with Optax's names and defaults.

Each public factory returns a `NamedOptimizer` (gradtx/named.py): the chain
builder below plus the arguments it was called with, by their names. Moving
code from Optax is a change of import. Every numeric argument is a pytree leaf
of the result (no recompile when it changes, `vmap` sweeps), `learning_rate`
may be a number or a schedule, and `set_hyperparams(tx, momentum=0.5)` works
with the factory's argument names.
"""

from __future__ import annotations

from typing import Any

from gradtx.combinators.combine import chain
from gradtx.core.protocol import GradientTransformation
from gradtx.optimizers.factory import optimizer
from gradtx.primitives.decay.weight_decay import add_decayed_weights
from gradtx.primitives.moments.adam import scale_by_adam, scale_by_adamax, scale_by_amsgrad
from gradtx.primitives.moments.belief import scale_by_belief
from gradtx.primitives.moments.radam import scale_by_radam
from gradtx.primitives.scaling.scaling import scale_by_learning_rate

__all__ = [
  "adam",
  "adamw",
  "nadam",
  "nadamw",
  "amsgrad",
  "adamax",
  "radam",
  "adabelief",
]


def _adam(
  learning_rate: Any,
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-8,
  eps_root: Any = 0.0,
  mu_dtype: Any = None,
  *,
  nesterov: bool = False,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""Adam (Kingma & Ba, 2014) with bias correction.

  $$
  \begin{aligned}
  m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
  v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, |g_t|^2, \\
  w_t &= w_{t-1} - \eta_t \frac{m_t / (1 - \beta_1^t)}
    {\sqrt{v_t / (1 - \beta_2^t) + \epsilon_{\mathrm{root}}} + \epsilon}
  \end{aligned}
  $$

  (`scale_by_adam`, then the learning rate; `nesterov=True` is NAdam's first moment).

  Defaults: `b1=0.9`, `b2=0.999`, `eps=1e-8` (Kingma & Ba, 2014, Algorithm 1),
  `eps_root=0` (Optax's `adam`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    b1: $\beta_1$, the decay of the first moment.
    b2: $\beta_2$, the decay of the second moment.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added under the root.
    mu_dtype: dtype of $m$ (Optax's name).
    nesterov: NAdam's look-ahead first moment.
    state_dtype: dtype of both moments.
  """
  return chain(
    scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, state_dtype=state_dtype),
    scale_by_learning_rate(learning_rate),
  )


def _adamw(
  learning_rate: Any,
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-8,
  eps_root: Any = 0.0,
  mu_dtype: Any = None,
  weight_decay: Any = 1e-4,
  mask: Any = None,
  *,
  nesterov: bool = False,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, 2019).

  $$
  w_t = w_{t-1} - \eta_t \left( \frac{\hat m_t}{\sqrt{\hat v_t + \epsilon_{\mathrm{root}}}
    + \epsilon} + \lambda\, w_{t-1} \right),
  $$

  with Adam's bias-corrected moments $\hat m_t$, $\hat v_t$ (see `adam`) and
  $\lambda$ = `weight_decay`, applied where `mask` is true.

  Defaults: `b1=0.9`, `b2=0.999`, `eps=1e-8`, `eps_root=0`, `weight_decay=1e-4`
  (Optax's `adamw`; PyTorch's `AdamW` defaults to `weight_decay=1e-2`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    b1: $\beta_1$, the decay of the first moment.
    b2: $\beta_2$, the decay of the second moment.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added under the root.
    mu_dtype: dtype of $m$ (Optax's name).
    weight_decay: $\lambda$, a number or a schedule.
    mask: the leaves decayed (a tree of bools, a prefix of it, or a function of the
      params); all by default.
    nesterov: NAdam's look-ahead first moment.
    state_dtype: dtype of both moments.
  """
  return chain(
    scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, state_dtype=state_dtype),
    add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate),
  )


def _nadam(
  learning_rate: Any,
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-8,
  eps_root: Any = 0.0,
  mu_dtype: Any = None,
  *,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""NAdam (Dozat, 2016): Adam with Nesterov momentum, `adam(..., nesterov=True)`.

  $$
  w_t = w_{t-1} - \eta_t \frac{\beta_1 m_t / (1 - \beta_1^{t+1})
    + (1 - \beta_1)\, g_t / (1 - \beta_1^t)}
    {\sqrt{v_t / (1 - \beta_2^t) + \epsilon_{\mathrm{root}}} + \epsilon},
  $$

  with Adam's moments $m_t$, $v_t$ (Optax's form, without Dozat's momentum schedule;
  for that see `scale_by_nadam`).

  Defaults: `b1=0.9`, `b2=0.999`, `eps=1e-8`, `eps_root=0` (Optax's `nadam`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    b1: $\beta_1$, the decay of the first moment.
    b2: $\beta_2$, the decay of the second moment.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added under the root.
    mu_dtype: dtype of $m$ (Optax's name).
    state_dtype: dtype of both moments.
  """
  return _adam(
    learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov=True, state_dtype=state_dtype
  )


def _nadamw(
  learning_rate: Any,
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-8,
  eps_root: Any = 0.0,
  mu_dtype: Any = None,
  weight_decay: Any = 1e-4,
  mask: Any = None,
  *,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""NAdamW: AdamW with Nesterov momentum, `adamw(..., nesterov=True)`.

  $$
  w_t = w_{t-1} - \eta_t \left( \frac{\beta_1 m_t / (1 - \beta_1^{t+1})
    + (1 - \beta_1)\, g_t / (1 - \beta_1^t)}
    {\sqrt{v_t / (1 - \beta_2^t) + \epsilon_{\mathrm{root}}} + \epsilon}
    + \lambda\, w_{t-1} \right).
  $$

  Defaults: `b1=0.9`, `b2=0.999`, `eps=1e-8`, `eps_root=0`, `weight_decay=1e-4` (Optax's
  `nadamw`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    b1: $\beta_1$, the decay of the first moment.
    b2: $\beta_2$, the decay of the second moment.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added under the root.
    mu_dtype: dtype of $m$ (Optax's name).
    weight_decay: $\lambda$, a number or a schedule.
    mask: the leaves decayed; all by default.
    state_dtype: dtype of both moments.
  """
  return _adamw(
    learning_rate,
    b1,
    b2,
    eps,
    eps_root,
    mu_dtype,
    weight_decay,
    mask,
    nesterov=True,
    state_dtype=state_dtype,
  )


def _amsgrad(
  learning_rate: Any,
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-8,
  eps_root: Any = 0.0,
  mu_dtype: Any = None,
  *,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""AMSGrad (Reddi et al., 2018): Adam with a non-increasing step.

  $$
  \hat v^{\max}_t = \max(\hat v^{\max}_{t-1}, \hat v_t), \qquad
  w_t = w_{t-1} - \eta_t \frac{\hat m_t}{\sqrt{\hat v^{\max}_t + \epsilon_{\mathrm{root}}}
    + \epsilon},
  $$

  with Adam's bias-corrected moments $\hat m_t$, $\hat v_t$ (see `scale_by_amsgrad`).

  Defaults: `b1=0.9`, `b2=0.999`, `eps=1e-8`, `eps_root=0` (Optax's `amsgrad`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    b1: $\beta_1$, the decay of the first moment.
    b2: $\beta_2$, the decay of the second moment.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added under the root.
    mu_dtype: dtype of $m$ (Optax's name).
    state_dtype: dtype of the moments.
  """
  return chain(
    scale_by_amsgrad(b1, b2, eps, eps_root, mu_dtype, state_dtype=state_dtype),
    scale_by_learning_rate(learning_rate),
  )


def _adamax(
  learning_rate: Any, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8, *, state_dtype: Any = None
) -> GradientTransformation:
  r"""AdaMax (Kingma & Ba, 2014, section 7): Adam with the infinity norm.

  $$
  m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
  n_t = \max(\beta_2 n_{t-1}, |g_t| + \epsilon), \qquad
  w_t = w_{t-1} - \eta_t \frac{m_t}{(1 - \beta_1^t)\, n_t}.
  $$

  Defaults: `b1=0.9`, `b2=0.999` (Kingma & Ba, 2014), `eps=1e-8` (Optax's `adamax`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    b1: $\beta_1$, the decay of the first moment.
    b2: $\beta_2$, the decay of the infinity norm.
    eps: $\epsilon$, added to $|g_t|$.
    state_dtype: dtype of the state.
  """
  return chain(
    scale_by_adamax(b1, b2, eps, state_dtype=state_dtype), scale_by_learning_rate(learning_rate)
  )


def _radam(
  learning_rate: Any,
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-8,
  eps_root: Any = 0.0,
  threshold: Any = 5.0,
  *,
  nesterov: bool = False,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""RAdam (Liu et al., 2019): Adam's step times the rectification $r_t$ once
  $\rho_t \ge$ `threshold`, plain bias-corrected momentum before.

  $$
  w_t = w_{t-1} - \eta_t\, u_t, \qquad u_t = \begin{cases}
    r_t\, \hat m_t / \big(\sqrt{\hat v_t + \epsilon_{\mathrm{root}}} + \epsilon\big)
      & \rho_t \ge \text{threshold}, \\
    \hat m_t & \text{otherwise},
  \end{cases}
  $$

  with $\rho_t$ and $r_t$ as in `scale_by_radam`.

  Defaults: `b1=0.9`, `b2=0.999`, `eps=1e-8`, `eps_root=0`, `threshold=5` (Optax's
  `radam`; the paper's threshold is 4).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    b1: $\beta_1$, the decay of the first moment.
    b2: $\beta_2$, the decay of the second moment.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added under the root.
    threshold: the smallest $\rho_t$ at which the adaptive step is used.
    nesterov: NAdam's look-ahead first moment.
    state_dtype: dtype of the moments.
  """
  return chain(
    scale_by_radam(b1, b2, eps, eps_root, threshold, nesterov=nesterov, state_dtype=state_dtype),
    scale_by_learning_rate(learning_rate),
  )


def _adabelief(
  learning_rate: Any,
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-16,
  eps_root: Any = 1e-16,
  *,
  nesterov: bool = False,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""AdaBelief (Zhuang et al., 2020): Adam whose second moment is the belief $s_t$.

  $$
  s_t = \beta_2 s_{t-1} + (1 - \beta_2)\, |g_t - m_t|^2 + \epsilon_{\mathrm{root}}, \qquad
  w_t = w_{t-1} - \eta_t \frac{m_t / (1 - \beta_1^t)}{\sqrt{s_t / (1 - \beta_2^t)}
    + \epsilon},
  $$

  with Adam's first moment $m_t$ (see `scale_by_belief`).

  Defaults: `b1=0.9`, `b2=0.999`, `eps=1e-16`, `eps_root=1e-16` (Optax's `adabelief`).

  Args:
    learning_rate: $\eta$, a number or a schedule of the step count.
    b1: $\beta_1$, the decay of the first moment.
    b2: $\beta_2$, the decay of the belief $s$.
    eps: $\epsilon$, added to the root.
    eps_root: $\epsilon_{\mathrm{root}}$, added to the stored $s_t$.
    nesterov: NAdam's look-ahead first moment.
    state_dtype: dtype of the moments.
  """
  return chain(
    scale_by_belief(b1, b2, eps, eps_root, nesterov=nesterov, state_dtype=state_dtype),
    scale_by_learning_rate(learning_rate),
  )


adam = optimizer(_adam)
adamw = optimizer(_adamw)
nadam = optimizer(_nadam)
nadamw = optimizer(_nadamw)
amsgrad = optimizer(_amsgrad)
adamax = optimizer(_adamax)
radam = optimizer(_radam)
adabelief = optimizer(_adabelief)
