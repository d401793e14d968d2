"""Schedule-Free learning (Defazio et al., 2024) as the authors' `schedulefree` package
implements it (`AdamWScheduleFree`, `SGDScheduleFree`), with Optax's names."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.combinators.combine import as_transformation, chain
from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.named import named_optimizer
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import (
  complement,
  compute_dtype,
  hyper,
  map_leaves,
  safe_div,
  safe_increment,
  scalar_dtype,
)
from gradtx.numerics.ops import state_dtype as _state_dtype
from gradtx.primitives.adaptive.rmsprop import scale_by_rms
from gradtx.primitives.decay.weight_decay import add_decayed_weights, require_params
from gradtx.primitives.scaling.scaling import evaluate, scale_by_learning_rate
from gradtx.schedules.base import Schedule, as_float

__all__ = [
  "ScheduleFreeState",
  "ScheduleFree",
  "schedule_free",
  "schedule_free_adamw",
  "schedule_free_sgd",
  "schedule_free_eval_params",
  "ScheduleFreeWarmup",
]


class ScheduleFreeState(NamedTuple):
  """Optax's fields: `b1`; `weight_sum` (sum of the averaging weights); `step_count`
  (1 before the first step); `max_lr` (largest learning rate so far);
  `base_optimizer_state`; `z` (the base optimizer's iterate, shaped like the params)."""

  b1: jax.Array
  weight_sum: jax.Array
  step_count: jax.Array
  max_lr: jax.Array
  base_optimizer_state: Any
  z: Any


class ScheduleFreeWarmup(Schedule):
  """`peak_value min(1, (count + 1) / warmup_steps)`: the reference's warm-up, whose
  first step already uses `peak_value / warmup_steps` (`count` = 0 on the first step)."""

  peak_value: Any
  warmup_steps: Any

  def __call__(self, count):
    frac = (as_float(count) + 1) / as_float(self.warmup_steps)
    return as_float(self.peak_value) * jnp.minimum(frac, 1)


class ScheduleFree(GradientTransformation):
  """Schedule-Free wrapper; the update rule and defaults are on `schedule_free`."""

  base_optimizer: GradientTransformation
  learning_rate: Any
  b1: Any = 0.9
  weight_lr_power: Any = 2.0
  state_dtype: Any = static(default=None)
  r: Any = 0.0

  def __post_init__(self):
    object.__setattr__(self, "base_optimizer", as_transformation(self.base_optimizer))
    _checks.unit_interval("schedule_free", "b1", self.b1)
    _checks.non_negative("schedule_free", "weight_lr_power", self.weight_lr_power)
    _checks.non_negative("schedule_free", "r", self.r)

  def init(self, params):
    sdt = scalar_dtype()
    z = jax.tree.map(
      lambda p: jnp.array(p, dtype=_state_dtype(jnp.result_type(p), self.state_dtype)), params
    )
    return ScheduleFreeState(
      jnp.asarray(self.b1, sdt),
      jnp.zeros([], sdt),
      jnp.ones([], jnp.int32),
      jnp.zeros([], sdt),
      self.base_optimizer.init(params),
      z,
    )

  def update(self, updates, state, params=None, **extra_args):
    require_params("schedule_free", params, updates)
    k = state.step_count - 1  # steps done before this one
    lr = evaluate(self.learning_rate, k)
    max_lr = jnp.maximum(state.max_lr, lr)
    weight = as_float(state.step_count) ** as_float(self.r) * max_lr ** as_float(
      self.weight_lr_power
    )
    weight_sum = state.weight_sum + weight
    ck = safe_div(weight, weight_sum)  # 0 while every weight is 0 (the reference's 1/0 guard)
    base_updates, base_state = self.base_optimizer.update(
      updates, state.base_optimizer_state, params, **extra_args
    )

    def leaf(d, y, z):
      cdt = compute_dtype(jnp.result_type(y, d))
      c = hyper(ck, cdt)
      dc = d.astype(cdt)
      z_new = z.astype(cdt) + dc
      # = c (z - y) + (1 - b1 (1 - c)) d; written on z_new, XLA updates z and y in place
      # when they are donated (on z it copies the params first).
      u = c * (z_new - y.astype(cdt)) + complement(self.b1, cdt) * (1 - c) * dc
      return u.astype(d.dtype), z_new.astype(z.dtype)

    new_updates, z = map_leaves(leaf, base_updates, params, state.z, n_out=2)
    return new_updates, ScheduleFreeState(
      state.b1, weight_sum, safe_increment(state.step_count), max_lr, base_state, z
    )


def schedule_free(
  base_optimizer: Any,
  learning_rate: Any,
  b1: Any = 0.9,
  weight_lr_power: Any = 2.0,
  state_dtype: Any = None,
  *,
  r: Any = 0.0,
) -> ScheduleFree:
  r"""Makes `base_optimizer` (momentum off, its learning rate `learning_rate`)
  schedule-free (Defazio et al., 2024).

  With $d_t$ the base optimizer's update (its learning rate $\eta_t$ included), $y$ the
  params (where gradients are taken), $z$ the base iterate and $x$ the average:

  $$
  \begin{aligned}
  z_{t+1} &= z_t + d_t, \qquad x_{t+1} = (1 - c_t)\, x_t + c_t\, z_{t+1}, \qquad
  y_{t+1} = \beta_1 x_{t+1} + (1 - \beta_1)\, z_{t+1}, \\
  c_t &= \frac{\omega_t}{\sum_{i \le t} \omega_i}, \qquad
  \omega_t = t^{r} \big(\max_{i \le t} \eta_i\big)^{p},
  \end{aligned}
  $$

  with $p$ = `weight_lr_power`; $y$ is computed as the reference does,
  $y_{t+1} = y_t + c_t (z_t - y_t) + (1 - \beta_1 (1 - c_t))\, d_t$ (no division by
  $\beta_1$). `learning_rate` is evaluated at the count of steps done (0 on the first),
  the count the base optimizer's own learning-rate stage sees, as the reference (Optax
  evaluates it one step ahead). Evaluate the model at
  `schedule_free_eval_params(state, params)`, $x = (y - (1 - \beta_1) z) / \beta_1$.

  Defaults: `b1=0.9`, `weight_lr_power=2`, `r=0` (the reference code `schedulefree`;
  Optax's `contrib.schedule_free`).

  Args:
    base_optimizer: the base optimizer, without momentum, its learning rate included.
    learning_rate: $\eta_t$, the base optimizer's learning rate (for the weights).
    b1: $\beta_1$, the interpolation between $x$ and $z$.
    weight_lr_power: $p$.
    state_dtype: dtype of $z$.
    r: the polynomial weighting exponent $r$.
  """
  return ScheduleFree(base_optimizer, learning_rate, b1, weight_lr_power, state_dtype, r)


def _warmup(learning_rate: Any, warmup_steps: int | None) -> Any:
  _checks.non_negative("schedule_free", "warmup_steps", warmup_steps)
  if not warmup_steps:
    return learning_rate
  return ScheduleFreeWarmup(learning_rate, warmup_steps)


def _schedule_free_adamw(
  learning_rate: Any = 0.0025,
  warmup_steps: int | None = None,
  b1: Any = 0.9,
  b2: Any = 0.999,
  eps: Any = 1e-8,
  weight_decay: Any = 0.0,
  weight_lr_power: Any = 2.0,
  state_dtype: Any = None,
  *,
  r: Any = 0.0,
) -> GradientTransformation:
  r"""Schedule-Free AdamW (Defazio et al., 2024; the reference's
  `schedulefree.AdamWScheduleFree`): `schedule_free` around the base update

  $$
  v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2, \qquad
  d_t = -\eta_t \left( \frac{g_t}{\sqrt{v_t / (1 - \beta_2^t)} + \epsilon}
    + \lambda\, y_t \right),
  $$

  with the linear warm-up $\eta_t = \eta \min(1, t / \text{warmup\_steps})$ ($t = 1$ on
  the first step; none with `warmup_steps=None`) and $\lambda$ = `weight_decay`.

  Defaults: `learning_rate=0.0025`, `b1=0.9`, `b2=0.999`, `eps=1e-8`, `weight_decay=0`,
  `weight_lr_power=2`, `r=0` (the reference code and Optax's
  `contrib.schedule_free_adamw`).

  Args:
    learning_rate: $\eta$, a number or a schedule.
    warmup_steps: the linear warm-up's length, or `None`.
    b1: $\beta_1$, the interpolation between $x$ and $z$.
    b2: $\beta_2$, the decay of $v$.
    eps: $\epsilon$.
    weight_decay: $\lambda$, applied at $y$.
    weight_lr_power: $p$ of the averaging weights.
    state_dtype: dtype of the state.
    r: the polynomial weighting exponent $r$.
  """
  lr = _warmup(learning_rate, warmup_steps)
  # A literal 0 masks every leaf off (the reference's `if decay != 0`): the same state, and
  # z's kernel no longer reads the params (0 * y is not folded away).
  no_decay = isinstance(weight_decay, (int, float)) and weight_decay == 0
  base = chain(
    scale_by_rms(b2, eps, 0.0, False, True, state_dtype=state_dtype),
    add_decayed_weights(weight_decay, mask=False if no_decay else None),
    scale_by_learning_rate(lr),
  )
  return ScheduleFree(base, lr, b1, weight_lr_power, state_dtype, r)


def _schedule_free_sgd(
  learning_rate: Any = 1.0,
  warmup_steps: int | None = None,
  b1: Any = 0.9,
  weight_decay: Any = None,
  weight_lr_power: Any = 2.0,
  state_dtype: Any = None,
  *,
  r: Any = 0.0,
) -> GradientTransformation:
  r"""Schedule-Free SGD (Defazio et al., 2024; the reference's
  `schedulefree.SGDScheduleFree`): `schedule_free` around the base update

  $$
  d_t = -\eta_t \big( g_t + \lambda\, y_t \big),
  $$

  with the warm-up of `schedule_free_adamw` and $\lambda$ = `weight_decay` (none by
  default).

  Defaults: `learning_rate=1`, `b1=0.9` (the reference's `momentum`),
  `weight_lr_power=2`, `r=0` (the reference code and Optax's
  `contrib.schedule_free_sgd`).

  Args:
    learning_rate: $\eta$, a number or a schedule.
    warmup_steps: the linear warm-up's length, or `None`.
    b1: $\beta_1$, the interpolation between $x$ and $z$.
    weight_decay: $\lambda$, applied at $y$, or `None`.
    weight_lr_power: $p$ of the averaging weights.
    state_dtype: dtype of the state.
    r: the polynomial weighting exponent $r$.
  """
  lr = _warmup(learning_rate, warmup_steps)
  stages = () if weight_decay is None else (add_decayed_weights(weight_decay),)
  base = chain(*stages, scale_by_learning_rate(lr))
  return ScheduleFree(base, lr, b1, weight_lr_power, state_dtype, r)


schedule_free_adamw = named_optimizer(_schedule_free_adamw, static_args=("warmup_steps",))
schedule_free_sgd = named_optimizer(_schedule_free_sgd, static_args=("warmup_steps",))


def _is_sf_state(s: Any) -> bool:
  """Ours, or any NamedTuple with its fields (Optax's `ScheduleFreeState`)."""
  return isinstance(s, ScheduleFreeState) or (
    isinstance(s, tuple) and set(ScheduleFreeState._fields) <= set(getattr(s, "_fields", ()))
  )


def _find_state(state: Any) -> ScheduleFreeState:
  found = [s for s in jax.tree.leaves(state, is_leaf=_is_sf_state) if _is_sf_state(s)]
  if len(found) != 1:
    what = "no ScheduleFreeState" if not found else f"{len(found)} ScheduleFreeStates"
    raise ValueError(
      f"schedule_free_eval_params: the state holds {what} (got a "
      f"{type(state).__name__}); pass the state of schedule_free, "
      "schedule_free_adamw or schedule_free_sgd (or of a chain holding one)."
    )
  return found[0]


def schedule_free_eval_params(state: Any, params: Any) -> Any:
  """The averaged iterate `x = (y - (1 - b1) z) / b1` where the model is evaluated
  (the reference's `optimizer.eval()`); `state` is a schedule-free state or holds one."""
  sf = _find_state(state)
  b1 = sf.b1

  def leaf(y, z):
    cdt = compute_dtype(jnp.result_type(y))
    return ((y.astype(cdt) - (1 - b1.astype(cdt)) * z.astype(cdt)) / b1.astype(cdt)).astype(
      jnp.result_type(y)
    )

  return jax.tree.map(leaf, params, sf.z)
