"""Hyperparameters as data: no retrace when numbers change, vmap sweeps, inject/read/write.

gradtx optimizers and schedules are pytrees of their numeric hyperparameters.
This module checks the consequences:

* a jitted step that takes the optimizer as an argument is traced once for
  every learning rate / weight decay / momentum / schedule peak, and again
  only when a static flag (`nesterov`) changes -- and the new number is really
  used (each result is checked against NumPy);
* every numeric hyperparameter of every named optimizer and of the schedules
  can be a traced value: an optimizer built *inside* `jax.vmap` from traced
  values gives, for each value, the trajectory of a separate run (a NumPy
  float64 implementation of the update rule, written here from the papers'
  formulas, independently of gradtx);
* `inject_hyperparams`, `hyperparams_of` and `set_hyperparams`, against NumPy
  and against plain runs that switch optimizers, with float64 and bfloat16
  parameters.

x64 mode is on for the module (tight float64 comparisons); the bfloat16 cases
switch it off locally, so that the default (float32 hyperparameter) policy is
what is tested.
"""

from __future__ import annotations

import inspect
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx import optimizers as _optimizers


pytestmark = pytest.mark.usefixtures("x64")


def _named(name):
  """A named optimizer: from `gradtx` if exported there (a submodule of the same name,
  e.g. `gradtx.adadelta`, is not the optimizer), else from `gradtx.optimizers`."""
  found = getattr(gradtx, name, None)
  return found if callable(found) else getattr(_optimizers, name)


# ----------------------------------------------------------------------------- problem
# Least squares: loss(w, b) = mean((X w + b - Y)^2), two leaves (a matrix and a vector).

_RNG = np.random.default_rng(0)
X_NP = _RNG.normal(size=(16, 3))
Y_NP = _RNG.normal(size=(16, 2))
P0_NP = {"w": _RNG.normal(size=(3, 2)), "b": _RNG.normal(size=(2,))}
STEPS = 25


def _np_grads(p):
  r = X_NP @ p["w"] + p["b"] - Y_NP
  return {"w": 2.0 * X_NP.T @ r / r.size, "b": 2.0 * r.sum(0) / r.size}


def _loss(p):
  x = jnp.asarray(X_NP, dtype=jnp.result_type(p["w"], jnp.float32))
  r = x @ p["w"] + p["b"] - jnp.asarray(Y_NP, x.dtype)
  return jnp.mean(r ** 2)


def _params(dtype=None):
  return {k: jnp.asarray(v, dtype) for k, v in P0_NP.items()}


def _scan_run(tx, steps=STEPS, params=None):
  """`steps` optimizer steps on the least-squares problem, in one `lax.scan`."""
  p0 = _params() if params is None else params

  def body(carry, _):
    p, s = carry
    u, s = tx.update(jax.grad(_loss)(p), s, p)
    return (gradtx.apply_updates(p, u), s), None

  (p, s), _ = jax.lax.scan(body, (p0, tx.init(p0)), None, length=steps)
  return p, s


# ------------------------------------------------------------ NumPy reference optimizers
# Each reference is `(init(p) -> leaf state, step(g, p, s, t) -> (update, s))` for one
# leaf, t = 1, 2, ... A learning rate or weight decay may be a function of the count of
# updates done before this one (t - 1), like a schedule.


def _at(value, t):
  return value(t - 1) if callable(value) else value


def _norm(x):
  return float(np.sqrt(np.sum(x * x)))


def _np_run(ref, steps=STEPS):
  init, step = ref
  p = {k: v.copy() for k, v in P0_NP.items()}
  s = {k: init(v) for k, v in p.items()}
  for t in range(1, steps + 1):
    g = _np_grads(p)
    new = {}
    for k in p:
      u, s[k] = step(g[k], p[k], s[k], t)
      new[k] = p[k] + u
    p = new
  return p


def _zeros3(p):
  return dict(m=np.zeros_like(p), v=np.zeros_like(p), vmax=np.zeros_like(p))


def np_adam(learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, weight_decay=None,
            nesterov=False, amsgrad=False, trust_ratio=False):
  """Adam (Kingma & Ba): m, v, bias corrections; NAdam (Dozat) look-ahead; AMSGrad's
  running max of v_hat (Reddi et al.); AdamW's decoupled decay; LAMB's trust ratio."""
  def step(g, p, s, t):
    m = b1 * s["m"] + (1 - b1) * g
    v = b2 * s["v"] + (1 - b2) * g * g
    if nesterov:
      m_hat = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1 ** t)
    else:
      m_hat = m / (1 - b1 ** t)
    v_hat = v / (1 - b2 ** t)
    vmax = np.maximum(s["vmax"], v_hat)
    d = m_hat / (np.sqrt((vmax if amsgrad else v_hat) + eps_root) + eps)
    if weight_decay is not None:
      d = d + _at(weight_decay, t) * p
    if trust_ratio:
      pn, dn = _norm(p), _norm(d)
      d = d * (pn / dn if pn > 0 and dn > 0 else 1.0)
    return -_at(learning_rate, t) * d, dict(m=m, v=v, vmax=vmax)
  return _zeros3, step


def np_nadam(learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0):
  return np_adam(learning_rate, b1, b2, eps, eps_root, nesterov=True)


def np_amsgrad(learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0):
  return np_adam(learning_rate, b1, b2, eps, eps_root, amsgrad=True)


def np_adamw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, weight_decay=1e-4):
  return np_adam(learning_rate, b1, b2, eps, eps_root, weight_decay=weight_decay)


def np_lamb(learning_rate, b1=0.9, b2=0.999, eps=1e-6, eps_root=0.0, weight_decay=0.0):
  return np_adam(learning_rate, b1, b2, eps, eps_root, weight_decay=weight_decay,
                 trust_ratio=True)


def np_sgd(learning_rate, momentum=0.0, nesterov=False):
  """Heavy ball: v = g + mu v, w -= lr v (Nesterov: w -= lr (g + mu v))."""
  def step(g, p, s, t):
    v = g + momentum * s["m"]
    d = g + momentum * v if nesterov else v
    return -_at(learning_rate, t) * d, dict(s, m=v)
  return _zeros3, step


def np_rmsprop(learning_rate, decay=0.9, eps=1e-8, initial_scale=0.0, momentum=0.0):
  """S = decay S + (1 - decay) g^2 (S_0 = initial_scale); u = -lr g / sqrt(S + eps);
  then heavy-ball momentum on u (Optax's order)."""
  def init(p):
    return dict(s=np.full_like(p, initial_scale), m=np.zeros_like(p))

  def step(g, p, s, t):
    sq = decay * s["s"] + (1 - decay) * g * g
    u = -_at(learning_rate, t) * g / np.sqrt(sq + eps)
    m = u + momentum * s["m"]
    return m, dict(s=sq, m=m)
  return init, step


def np_adagrad(learning_rate, initial_accumulator_value=0.1, eps=1e-7):
  """G = G + g^2 (G_0 = initial value); w -= lr g / sqrt(G + eps)."""
  def init(p):
    return dict(G=np.full_like(p, initial_accumulator_value))

  def step(g, p, s, t):
    big_g = s["G"] + g * g
    return -_at(learning_rate, t) * g / np.sqrt(big_g + eps), dict(G=big_g)
  return init, step


def np_adamax(learning_rate, b1=0.9, b2=0.999, eps=1e-8):
  """m = b1 m + (1 - b1) g; u = max(b2 u, |g| + eps); w -= lr m / (1 - b1^t) / u."""
  def step(g, p, s, t):
    m = b1 * s["m"] + (1 - b1) * g
    u = np.maximum(b2 * s["v"], np.abs(g) + eps)
    return -_at(learning_rate, t) * m / (1 - b1 ** t) / u, dict(s, m=m, v=u)
  return _zeros3, step


def np_radam(learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, threshold=5.0):
  """RAdam (Liu et al., 2019): rho_inf = 2 / (1 - b2) - 1,
  rho_t = rho_inf - 2 t b2^t / (1 - b2^t); rectified Adam step r_t m_hat / (sqrt(v_hat) + eps)
  when rho_t >= threshold, else m_hat."""
  rho_inf = 2.0 / (1.0 - b2) - 1.0

  def step(g, p, s, t):
    m = b1 * s["m"] + (1 - b1) * g
    v = b2 * s["v"] + (1 - b2) * g * g
    m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
    rho = rho_inf - 2.0 * t * b2 ** t / (1.0 - b2 ** t)
    if rho >= threshold:
      r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
      d = r * m_hat / (np.sqrt(v_hat + eps_root) + eps)
    else:
      d = m_hat
    return -_at(learning_rate, t) * d, dict(s, m=m, v=v)
  return _zeros3, step


def np_adabelief(learning_rate, b1=0.9, b2=0.999, eps=1e-16, eps_root=1e-16):
  """AdaBelief (Zhuang et al., 2020): s = b2 s + (1 - b2)(g - m)^2 + eps_root;
  w -= lr m_hat / (sqrt(s_hat) + eps)."""
  def step(g, p, s, t):
    m = b1 * s["m"] + (1 - b1) * g
    v = b2 * s["v"] + (1 - b2) * (g - m) ** 2 + eps_root
    d = (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return -_at(learning_rate, t) * d, dict(s, m=m, v=v)
  return _zeros3, step


def np_adadelta(learning_rate=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
  """Adadelta (Zeiler, 2012) on g + wd w: E[g^2] = rho E[g^2] + (1 - rho) g^2;
  u = sqrt(E[u^2] + eps) / sqrt(E[g^2] + eps) g; E[u^2] = rho E[u^2] + (1 - rho) u^2."""
  def step(g, p, s, t):
    g = g + weight_decay * p
    e_g = rho * s["m"] + (1 - rho) * g * g
    u = np.sqrt(s["v"] + eps) / np.sqrt(e_g + eps) * g
    e_x = rho * s["v"] + (1 - rho) * u * u
    return -_at(learning_rate, t) * u, dict(s, m=e_g, v=e_x)
  return _zeros3, step


def np_lion(learning_rate, b1=0.9, b2=0.99, weight_decay=1e-3):
  """Lion (Chen et al., 2023): w -= lr (sign(b1 m + (1 - b1) g) + wd w); m = b2 m + (1 - b2) g."""
  def step(g, p, s, t):
    d = np.sign(b1 * s["m"] + (1 - b1) * g) + weight_decay * p
    return -_at(learning_rate, t) * d, dict(s, m=b2 * s["m"] + (1 - b2) * g)
  return _zeros3, step


def np_lars(learning_rate, weight_decay=0.0, trust_coefficient=0.001, eps=0.0, momentum=0.9):
  """LARS (You et al., 2017): r = g + wd w; r *= tc ||w|| / (||r|| + eps) per leaf;
  v = -lr r + momentum v; w += v."""
  def step(g, p, s, t):
    r = g + weight_decay * p
    pn, rn = _norm(p), _norm(r)
    r = r * (trust_coefficient * pn / (rn + eps) if pn > 0 and rn > 0 else 1.0)
    v = -_at(learning_rate, t) * r + momentum * s["m"]
    return v, dict(s, m=v)
  return _zeros3, step


# name -> (NumPy reference, base hyperparameters, {hyperparameter: other values swept}).
# Every numeric argument of the factory is swept (checked by
# test_sweep_table_covers_every_numeric_argument).
SWEEPS = {
    "adam": (np_adam, dict(learning_rate=0.05, b1=0.9, b2=0.99, eps=1e-8, eps_root=0.0),
             dict(learning_rate=[0.01, 0.1], b1=[0.0, 0.5], b2=[0.5, 0.999], eps=[1e-3, 0.3],
                  eps_root=[1e-4, 0.1])),
    "adamw": (np_adamw, dict(learning_rate=0.05, b1=0.9, b2=0.99, eps=1e-8, eps_root=0.0,
                             weight_decay=0.1),
              dict(learning_rate=[0.01, 0.1], b1=[0.0, 0.5], b2=[0.5, 0.999], eps=[1e-3, 0.3],
                   eps_root=[1e-4, 0.1], weight_decay=[0.0, 0.5])),
    "nadam": (np_nadam, dict(learning_rate=0.05, b1=0.9, b2=0.99, eps=1e-8, eps_root=0.0),
              dict(learning_rate=[0.01, 0.1], b1=[0.0, 0.5], b2=[0.5, 0.999], eps=[1e-3, 0.3],
                   eps_root=[1e-4, 0.1])),
    # AMSGrad needs a growing gradient for b2 to matter (v_max = v_hat_1 = g_1^2 while
    # |g| shrinks): a larger step overshoots.
    "amsgrad": (np_amsgrad, dict(learning_rate=0.3, b1=0.9, b2=0.99, eps=1e-8, eps_root=0.0),
                dict(learning_rate=[0.1, 0.5], b1=[0.0, 0.5], b2=[0.5, 0.999],
                     eps=[1e-3, 0.3], eps_root=[1e-4, 0.1])),
    "adamax": (np_adamax, dict(learning_rate=0.05, b1=0.9, b2=0.99, eps=1e-8),
               dict(learning_rate=[0.01, 0.1], b1=[0.0, 0.5], b2=[0.5, 0.999],
                    eps=[0.1, 1.0])),
    "radam": (np_radam, dict(learning_rate=0.05, b1=0.9, b2=0.99, eps=1e-8, eps_root=0.0,
                             threshold=5.0),
              dict(learning_rate=[0.01, 0.1], b1=[0.0, 0.5], b2=[0.995, 0.999],
                   eps=[1e-3, 0.3], eps_root=[1e-4, 0.1], threshold=[10.0, 20.0])),
    "adabelief": (np_adabelief, dict(learning_rate=0.05, b1=0.9, b2=0.99, eps=1e-16,
                                     eps_root=1e-16),
                  dict(learning_rate=[0.01, 0.1], b1=[0.0, 0.5], b2=[0.5, 0.999],
                       eps=[1e-3, 0.1], eps_root=[1e-4, 1e-2])),
    "sgd": (np_sgd, dict(learning_rate=0.05, momentum=0.9),
            dict(learning_rate=[0.01, 0.1], momentum=[0.0, 0.5])),
    "rmsprop": (np_rmsprop, dict(learning_rate=0.01, decay=0.9, eps=1e-8, initial_scale=0.0,
                                 momentum=0.5),
                dict(learning_rate=[0.003, 0.03], decay=[0.5, 0.99], eps=[1e-3, 0.1],
                     initial_scale=[0.1, 1.0], momentum=[0.0, 0.9])),
    "adagrad": (np_adagrad, dict(learning_rate=0.1, initial_accumulator_value=0.1, eps=1e-7),
                dict(learning_rate=[0.03, 0.3], initial_accumulator_value=[0.01, 1.0],
                     eps=[1e-3, 0.1])),
    "adadelta": (np_adadelta, dict(learning_rate=1.0, rho=0.9, eps=1e-6, weight_decay=0.0),
                 dict(learning_rate=[0.5, 2.0], rho=[0.5, 0.99], eps=[1e-3, 1e-1],
                      weight_decay=[0.1, 0.5])),
    "lion": (np_lion, dict(learning_rate=0.03, b1=0.9, b2=0.99, weight_decay=1e-3),
             dict(learning_rate=[0.01, 0.1], b1=[0.0, 0.5], b2=[0.0, 0.9],
                  weight_decay=[0.0, 0.5])),
    "lamb": (np_lamb, dict(learning_rate=0.01, b1=0.9, b2=0.99, eps=1e-6, eps_root=0.0,
                           weight_decay=0.0),
             dict(learning_rate=[0.003, 0.03], b1=[0.0, 0.5], b2=[0.5, 0.999],
                  eps=[1e-3, 0.3], eps_root=[1e-4, 1e-2], weight_decay=[0.01, 0.1])),
    "lars": (np_lars, dict(learning_rate=0.1, weight_decay=0.0, trust_coefficient=0.02,
                           eps=0.0, momentum=0.9),
             dict(learning_rate=[0.03, 0.3], weight_decay=[0.01, 0.1],
                  trust_coefficient=[0.005, 0.1], eps=[0.01, 1.0], momentum=[0.0, 0.5])),
}

RTOL, ATOL = 1e-10, 1e-12


def _configs(base, sweeps):
  return [dict(base)] + [dict(base, **{hp: v}) for hp, vals in sweeps.items() for v in vals]


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_sweep_table_covers_every_numeric_argument(name):
  """The sweep below varies every numeric argument of the factory (not flags/masks/dtypes)."""
  sig = inspect.signature(_named(name))
  numeric = {n for n, p in sig.parameters.items()
             if p.kind is not p.KEYWORD_ONLY and (
                 p.default is p.empty or
                 (isinstance(p.default, (int, float)) and not isinstance(p.default, bool)))}
  assert numeric <= set(SWEEPS[name][2]), numeric - set(SWEEPS[name][2])
  assert set(SWEEPS[name][1]) == set(SWEEPS[name][2])


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_vmap_sweep_over_every_hyperparameter_equals_separate_runs(name):
  """One `jax.vmap` over configurations; every hyperparameter is a traced, batched value
  (configuration i differs from the base in one hyperparameter), and the optimizer is
  built inside the vmapped function. Each lane equals a separate NumPy float64 run."""
  ref, base, sweeps = SWEEPS[name]
  factory = _named(name)
  configs = _configs(base, sweeps)
  stacked = {hp: jnp.asarray([c[hp] for c in configs], jnp.float64) for hp in base}

  def run(hps):
    tx = factory(**hps)
    assert all(isinstance(x, jax.core.Tracer) for x in
               [hps[k] for k in hps])  # built from traced values
    return _scan_run(tx)[0]

  out = jax.jit(jax.vmap(run))(stacked)
  finals = []
  for i, config in enumerate(configs):
    want = _np_run(ref(**config))
    finals.append(want)
    for k in want:
      np.testing.assert_allclose(np.asarray(out[k][i]), want[k], rtol=RTOL, atol=ATOL,
                                 err_msg=f"{name} {config} leaf {k}")
  # Every swept value changes the trajectory (no hyperparameter silently ignored).
  i = 1
  for hp, vals in sweeps.items():
    for _ in vals:
      diff = max(float(np.max(np.abs(out[k][i] - out[k][0]))) for k in out)
      assert diff > 1e-9, f"{name}: {hp}={configs[i][hp]} did not change the result"
      i += 1


# ------------------------------------------------------------------- schedules (vmap)


def np_exponential_decay(init_value, transition_steps, decay_rate, transition_begin=0,
                         end_value=None):
  def f(c):
    t = c - transition_begin
    v = init_value if t <= 0 else init_value * decay_rate ** (t / transition_steps)
    if end_value is not None:
      v = max(v, end_value) if decay_rate < 1 else min(v, end_value)
    return v
  return f


def np_warmup_cosine(init_value, peak_value, warmup_steps, decay_steps, end_value=0.0,
                     exponent=1.0):
  def f(c):
    if c < warmup_steps:
      return init_value + (peak_value - init_value) * c / warmup_steps
    n = decay_steps - warmup_steps
    s = min(c - warmup_steps, n)
    return (peak_value - end_value) * (0.5 * (1 + math.cos(math.pi * s / n))) ** exponent \
        + end_value
  return f


def np_inverse_time(init_value, decay_rate, decay_steps=1):
  return lambda c: init_value / (1 + decay_rate * c / decay_steps)


def np_piecewise(init_value, s5, s15):
  return lambda c: init_value * (s5 if c >= 5 else 1.0) * (s15 if c >= 15 else 1.0)


def np_cosine(init_value, decay_steps, alpha=0.0, exponent=1.0):
  def f(c):
    s = min(c, decay_steps)
    return init_value * ((1 - alpha) * (0.5 * (1 + math.cos(math.pi * s / decay_steps)))
                         ** exponent + alpha)
  return f


def np_polynomial(init_value, end_value, power, transition_steps, transition_begin=0):
  def f(c):
    s = min(max(c - transition_begin, 0), transition_steps)
    return (init_value - end_value) * (1 - s / transition_steps) ** power + end_value
  return f


SCHEDULES = {
    "exponential_decay": (
        gradtx.exponential_decay, np_exponential_decay,
        dict(init_value=0.1, transition_steps=5, decay_rate=0.5, transition_begin=2,
             end_value=0.01),
        dict(init_value=[0.05, 0.2], transition_steps=[3, 10], decay_rate=[0.8, 0.95],
             transition_begin=[0, 6], end_value=[0.02, 0.001])),
    "warmup_cosine_decay_schedule": (
        gradtx.warmup_cosine_decay_schedule, np_warmup_cosine,
        dict(init_value=0.0, peak_value=0.1, warmup_steps=5, decay_steps=30, end_value=0.001,
             exponent=1.0),
        dict(init_value=[0.01, 0.05], peak_value=[0.05, 0.2], warmup_steps=[2, 10],
             decay_steps=[20, 40], end_value=[0.0, 0.01], exponent=[0.5, 2.0])),
    "inverse_time_decay": (
        gradtx.inverse_time_decay, np_inverse_time,
        dict(init_value=0.1, decay_rate=0.5, decay_steps=2),
        dict(init_value=[0.05, 0.2], decay_rate=[0.1, 2.0], decay_steps=[1, 5])),
    "piecewise_constant_schedule": (
        lambda init_value, s5, s15: gradtx.piecewise_constant_schedule(
            init_value, {5: s5, 15: s15}),
        np_piecewise,
        dict(init_value=0.1, s5=0.5, s15=0.5),
        dict(init_value=[0.05, 0.2], s5=[0.1, 0.9], s15=[0.2, 0.8])),
    "cosine_decay_schedule": (
        gradtx.cosine_decay_schedule, np_cosine,
        dict(init_value=0.1, decay_steps=20, alpha=0.1, exponent=1.0),
        dict(init_value=[0.05, 0.2], decay_steps=[10, 30], alpha=[0.0, 0.5],
             exponent=[0.5, 2.0])),
    "polynomial_schedule": (
        gradtx.polynomial_schedule, np_polynomial,
        dict(init_value=0.1, end_value=0.01, power=2.0, transition_steps=20,
             transition_begin=2),
        dict(init_value=[0.05, 0.2], end_value=[0.0, 0.05], power=[1.0, 3.0],
             transition_steps=[10, 30], transition_begin=[0, 5])),
}
COUNTS = np.arange(45)


def _stack(configs, keys):
  out = {}
  for k in keys:
    vals = [c[k] for c in configs]
    is_int = all(isinstance(v, int) for v in vals)
    out[k] = jnp.asarray(vals, jnp.int64 if is_int else jnp.float64)
  return out


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_vmap_sweep_over_schedule_parameters_matches_formula(name):
  """Every numeric schedule argument (integer step counts included) traced under vmap:
  the values at counts 0..44 equal the closed-form NumPy formula of each configuration."""
  factory, ref, base, sweeps = SCHEDULES[name]
  configs = _configs(base, sweeps)
  stacked = _stack(configs, base)
  got = jax.jit(jax.vmap(lambda hps: factory(**hps)(jnp.asarray(COUNTS))))(stacked)
  for i, config in enumerate(configs):
    want = np.array([ref(**config)(int(c)) for c in COUNTS])
    np.testing.assert_allclose(np.asarray(got[i]), want, rtol=1e-12, atol=1e-15,
                               err_msg=f"{name} {config}")
    if i:
      assert np.max(np.abs(np.asarray(got[i] - got[0]))) > 1e-6, config


@pytest.mark.parametrize("name", ["exponential_decay", "warmup_cosine_decay_schedule",
                                  "inverse_time_decay", "piecewise_constant_schedule"])
def test_vmap_sweep_over_schedule_inside_optimizer_equals_separate_runs(name):
  """`sgd(schedule(traced...), momentum=0.9)` built inside vmap; 25 steps; each lane
  equals a NumPy run with that schedule."""
  factory, ref, base, sweeps = SCHEDULES[name]
  configs = _configs(base, sweeps)
  stacked = _stack(configs, base)
  out = jax.jit(jax.vmap(
      lambda hps: _scan_run(_named("sgd")(factory(**hps), momentum=0.9))[0]))(stacked)
  for i, config in enumerate(configs):
    want = _np_run(np_sgd(ref(**config), momentum=0.9))
    for k in want:
      np.testing.assert_allclose(np.asarray(out[k][i]), want[k], rtol=RTOL, atol=ATOL,
                                 err_msg=f"{name} {config}")


def test_warmup_cosine_sweep_including_zero_peak():
  """A grid starting at peak_value=0 (end_value / peak_value must not be 0/0): all zeros
  for that lane, as Optax; also with Python numbers (no ZeroDivisionError)."""
  peaks = jnp.asarray([0.0, 0.1])
  got = jax.vmap(lambda peak: gradtx.warmup_cosine_decay_schedule(
      0.0, peak, 5, 30, 0.0)(jnp.asarray(COUNTS)))(peaks)
  assert np.all(np.isfinite(np.asarray(got)))
  np.testing.assert_allclose(np.asarray(got[0]), 0.0)
  np.testing.assert_allclose(np.asarray(got[1]),
                             [np_warmup_cosine(0.0, 0.1, 5, 30, 0.0)(c) for c in COUNTS],
                             rtol=1e-12, atol=1e-15)
  assert float(gradtx.warmup_cosine_decay_schedule(0.0, 0.0, 5, 30)(10)) == 0.0


def test_polynomial_schedule_traced_steps_fractional_power_is_finite():
  got = jax.jit(lambda power, steps: gradtx.polynomial_schedule(0.1, 0.01, power, steps, 2)(
      jnp.arange(45)))(0.5, 20)
  want = [np_polynomial(0.1, 0.01, 0.5, 20, 2)(c) for c in range(45)]
  np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)


# ---------------------------------------------------------------- no retrace under jit


def _counted_step():
  """A jitted step taking the optimizer as an argument; `traces` counts its traces."""
  traces = []

  @jax.jit
  def step(tx, params, state, grads):
    traces.append(None)  # Python side effect: runs once per trace
    updates, state = tx.update(grads, state, params)
    return gradtx.apply_updates(params, updates), state

  return step, traces


def _jit_run(step, tx, steps=3):
  """`steps` steps on the least-squares problem through the counted jitted step."""
  p = _params()
  s = tx.init(p)
  grad = jax.jit(jax.grad(_loss))
  for _ in range(steps):
    p, s = step(tx, p, s, grad(p))
  return p


def _close_to(p, ref, steps=3):
  want = _np_run(ref, steps)
  for k in want:
    np.testing.assert_allclose(np.asarray(p[k]), want[k], rtol=RTOL, atol=ATOL)


def _wcd(peak):
  return gradtx.warmup_cosine_decay_schedule(0.0, peak, 2, 10, 1e-4)


NO_RETRACE = {
    "adam learning_rate": [
        (_named("adam")(1e-3), np_adam(1e-3)),
        (_named("adam")(3e-4), np_adam(3e-4)),
        (_named("adam")(0.1), np_adam(0.1))],
    "adamw weight_decay": [
        (_named("adamw")(1e-2, weight_decay=1e-4), np_adamw(1e-2, weight_decay=1e-4)),
        (_named("adamw")(1e-2, weight_decay=0.5), np_adamw(1e-2, weight_decay=0.5))],
    "schedule peak_value": [
        (_named("adam")(_wcd(1e-2)), np_adam(np_warmup_cosine(0.0, 1e-2, 2, 10, 1e-4))),
        (_named("adam")(_wcd(3e-1)), np_adam(np_warmup_cosine(0.0, 3e-1, 2, 10, 1e-4)))],
    "sgd momentum": [
        (_named("sgd")(0.1, momentum=0.9), np_sgd(0.1, 0.9)),
        (_named("sgd")(0.1, momentum=0.5), np_sgd(0.1, 0.5))],
}


@pytest.mark.parametrize("case", sorted(NO_RETRACE))
def test_no_retrace_when_only_numbers_change(case):
  step, traces = _counted_step()
  results = []
  for tx, ref in NO_RETRACE[case]:
    p = _jit_run(step, tx)
    _close_to(p, ref)  # the new number is used, not a stale constant
    results.append(p)
  assert len(traces) == 1, f"{case}: traced {len(traces)} times"
  assert float(jnp.max(jnp.abs(results[0]["w"] - results[1]["w"]))) > 1e-6


def test_retrace_when_a_static_flag_changes():
  step, traces = _counted_step()
  _close_to(_jit_run(step, _named("sgd")(0.1, momentum=0.9)), np_sgd(0.1, 0.9))
  _close_to(_jit_run(step, _named("sgd")(0.1, momentum=0.5)), np_sgd(0.1, 0.5))
  assert len(traces) == 1
  _close_to(_jit_run(step, _named("sgd")(0.1, momentum=0.9, nesterov=True)),
            np_sgd(0.1, 0.9, nesterov=True))
  assert len(traces) == 2
  # Back to the first flag value: the cached trace is reused.
  _jit_run(step, _named("sgd")(0.3, momentum=0.1))
  assert len(traces) == 2


def test_equal_settings_compare_and_hash_equal():
  adam, adamw, sgd = _named("adam"), _named("adamw"), _named("sgd")
  a, b = adam(1e-3), adam(1e-3)
  assert a is not b and a == b and hash(a) == hash(b)
  assert adam(1e-3) != adam(3e-4)
  assert adam(1e-3) != adam(1e-3, nesterov=True)
  assert sgd(0.1, momentum=0.9) == sgd(0.1, momentum=0.9)
  assert sgd(0.1, momentum=0.9) != sgd(0.1, momentum=0.9, nesterov=True)
  mask = ~gradtx.by_path("*bias")
  w1 = adamw(_wcd(1e-3), weight_decay=0.1, mask=mask)
  w2 = adamw(_wcd(1e-3), weight_decay=0.1, mask=~gradtx.by_path("*bias"))
  assert w1 == w2 and hash(w1) == hash(w2)
  assert w1 != adamw(_wcd(2e-3), weight_decay=0.1, mask=mask)
  assert w1 != adamw(_wcd(1e-3), weight_decay=0.1, mask=gradtx.by_path("*bias"))
  assert len({adam(1e-3), adam(1e-3), adam(3e-4), w1, w2}) == 3
  # Usable as a static jit argument / dict key.
  cache = {adam(1e-3): "x"}
  assert cache[adam(1e-3)] == "x"


def test_set_hyperparams_result_reuses_the_compiled_step():
  step, traces = _counted_step()
  tx = gradtx.chain(gradtx.clip_by_global_norm(10.0), _named("adamw")(1e-2, weight_decay=0.1))
  _jit_run(step, tx)
  tx2 = gradtx.set_hyperparams(tx, learning_rate=3e-2, weight_decay=0.0)
  _close_to(_jit_run(step, tx2), np_adamw(3e-2, weight_decay=0.0))  # norms stay < 10
  assert len(traces) == 1


# ------------------------------------------------------------------- inject_hyperparams


@pytest.fixture(params=["float64", "bfloat16"])
def dtype(request):
  """float64 in x64 mode; bfloat16 with x64 off (so the default hyperparameter dtype,
  float32, is the one checked)."""
  if request.param == "float64":
    yield jnp.float64
  else:
    with jax.enable_x64(False):
      yield jnp.bfloat16


def _check_hyperparam_dtypes(state, dtype):
  hp = state.hyperparams
  for name, value in hp.items():
    assert value.dtype == (jnp.float64 if dtype == jnp.float64 else jnp.float32), name
  if "b2" in hp:
    assert float(hp["b2"]) == float(np.asarray(0.999, hp["b2"].dtype))
    assert float(hp["b2"]) != 1.0  # 0.999 in bfloat16 would be 1.0


def _assert_trees(got, want, dtype, exact_bf16=True):
  for k in want:
    g, w = np.asarray(got[k], np.float64), np.asarray(want[k], np.float64)
    if dtype == jnp.float64:
      np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL, err_msg=k)
    elif exact_bf16:
      np.testing.assert_array_equal(g, w, err_msg=k)
    else:  # vmapped vs separate: one bfloat16 rounding step apart at most
      np.testing.assert_allclose(g, w, rtol=2 ** -7, atol=2 ** -8, err_msg=k)


def test_inject_hyperparams_read():
  itx = gradtx.inject_hyperparams(_named("adamw"))(learning_rate=0.05, weight_decay=0.1, b2=0.99)
  p = _params()
  state = itx.init(p)
  want = dict(learning_rate=0.05, b1=0.9, b2=0.99, eps=1e-8, eps_root=0.0, weight_decay=0.1)
  assert set(state.hyperparams) == set(want)
  for name, value in want.items():
    assert float(state.hyperparams[name]) == value
  read = gradtx.hyperparams_of(state)
  assert set(read) == set(want)  # no duplicate learning_rate[1] from the inner state
  for name, value in want.items():
    assert float(read[name]) == value
  _, state = itx.update(jax.grad(_loss)(p), state, p)
  assert float(gradtx.hyperparams_of(state)["learning_rate"]) == 0.05
  assert int(state.count) == 1


def test_inject_hyperparams_written_between_steps(dtype):
  """learning_rate written into the state after step 6, weight_decay after step 12,
  under one jit trace; equals a plain run that switches optimizers at those steps."""
  adamw = _named("adamw")
  itx = gradtx.inject_hyperparams(adamw)(learning_rate=0.05, weight_decay=0.1)
  step, traces = _counted_step()
  grad = jax.jit(jax.grad(_loss))
  p = _params(dtype)
  s = itx.init(p)
  _check_hyperparam_dtypes(s, dtype)
  for t in range(18):
    if t == 6:
      s = s._replace(hyperparams={**s.hyperparams, "learning_rate": jnp.asarray(
          0.01, s.hyperparams["learning_rate"].dtype)})
    if t == 12:
      s = s._replace(hyperparams={**s.hyperparams, "weight_decay": jnp.asarray(
          0.5, s.hyperparams["weight_decay"].dtype)})
    p, s = step(itx, p, s, grad(p))
  assert len(traces) == 1  # writes are data: no retrace
  assert float(s.hyperparams["learning_rate"]) == pytest.approx(0.01, rel=1e-7)
  _check_hyperparam_dtypes(s, dtype)

  # Plain run: adamw(0.05, 0.1), then adamw(0.01, 0.1) and adamw(0.01, 0.5) continuing
  # with the same state (the state layout does not depend on the numbers).
  plain = [adamw(0.05, weight_decay=0.1), adamw(0.01, weight_decay=0.1),
           adamw(0.01, weight_decay=0.5)]
  q = _params(dtype)
  ps = plain[0].init(q)
  for t in range(18):
    q, ps = step(plain[t // 6], q, ps, grad(q))
  _assert_trees(p, q, dtype)
  if dtype == jnp.float64:
    ref = np_adamw(lambda c: 0.05 if c < 6 else 0.01,
                   weight_decay=lambda c: 0.1 if c < 12 else 0.5)
    _close_to(p, ref, steps=18)
  else:  # b2 = 0.999 was used, not 1.0: the second moment after 18 steps is positive
    nu = s.inner_state[0].nu
    assert all(bool(jnp.all(v > 0)) for v in jax.tree.leaves(nu))


def test_inject_hyperparams_vmapped_over_state(dtype):
  """vmap over a state whose hyperparams['learning_rate'] is batched (the rest shared)."""
  adam = _named("adam")
  itx = gradtx.inject_hyperparams(adam)(learning_rate=0.05)
  lrs = [0.003, 0.01, 0.03, 0.1]
  p = _params(dtype)
  s = itx.init(p)
  hp_dtype = s.hyperparams["learning_rate"].dtype
  batched = s._replace(hyperparams={**s.hyperparams,
                                    "learning_rate": jnp.asarray(lrs, hp_dtype)})
  axes = jax.tree.map(lambda _: None, s)
  axes = axes._replace(hyperparams={**axes.hyperparams, "learning_rate": 0})

  def run(state):
    def body(carry, _):
      q, st = carry
      u, st = itx.update(jax.grad(_loss)(q), st, q)
      return (gradtx.apply_updates(q, u), st), None
    (q, st), _ = jax.lax.scan(body, (p, state), None, length=STEPS)
    return q, st

  out, out_state = jax.jit(jax.vmap(run, in_axes=(axes,)))(batched)
  np.testing.assert_array_equal(np.asarray(out_state.hyperparams["learning_rate"], np.float64),
                                np.asarray(jnp.asarray(lrs, hp_dtype), np.float64))
  assert out_state.hyperparams["b2"].dtype == hp_dtype
  separate = jax.jit(lambda tx: _scan_run(tx, params=p)[0])
  for i, lr in enumerate(lrs):
    lane = {k: v[i] for k, v in out.items()}
    _assert_trees(lane, separate(adam(lr)), dtype, exact_bf16=False)
    if dtype == jnp.float64:
      _close_to(lane, np_adam(lr), steps=STEPS)


def test_inject_hyperparams_scheduled(dtype):
  """A schedule: the value stored after step t is schedule(t) (t = updates done before),
  and the trajectory equals the plain optimizer with that schedule."""
  adam = _named("adam")
  sched = gradtx.warmup_cosine_decay_schedule(0.0, 0.1, 5, 20, 0.001)
  np_sched = np_warmup_cosine(0.0, 0.1, 5, 20, 0.001)
  itx = gradtx.inject_hyperparams(adam)(learning_rate=sched)
  p = _params(dtype)

  def run(tx):
    def body(carry, _):
      q, st = carry
      u, st = tx.update(jax.grad(_loss)(q), st, q)
      lr = gradtx.hyperparams_of(st)["learning_rate"]
      return (gradtx.apply_updates(q, u), st), lr
    (q, st), lrs = jax.lax.scan(body, (p, tx.init(p)), None, length=STEPS)
    return q, st, lrs

  q, st, stored = jax.jit(run)(itx)
  _check_hyperparam_dtypes(st, dtype)
  want_lrs = np.array([np_sched(t) for t in range(STEPS)])
  np.testing.assert_allclose(np.asarray(stored, np.float64), want_lrs,
                             rtol=1e-12 if dtype == jnp.float64 else 1e-6, atol=1e-15)
  q_plain, st_plain, lr_plain = jax.jit(run)(adam(sched))  # lr recorded by the plain chain
  np.testing.assert_array_equal(np.asarray(stored), np.asarray(lr_plain))
  _assert_trees(q, q_plain, dtype)
  if dtype == jnp.float64:
    _close_to(q, np_adam(np_sched), steps=STEPS)


def test_inject_hyperparams_keeps_a_callable_mask_static():
  adamw = _named("adamw")
  mask = gradtx.by_path("w")
  itx = gradtx.inject_hyperparams(adamw)(learning_rate=0.1, weight_decay=0.5, mask=mask)
  plain = adamw(0.1, weight_decay=0.5, mask=mask)
  p = _params()
  zero = jax.tree.map(jnp.zeros_like, p)
  assert "mask" not in itx.init(p).hyperparams
  u, _ = jax.jit(itx.update)(zero, itx.init(p), p)
  v, _ = plain.update(zero, plain.init(p), p)
  for k in p:
    np.testing.assert_allclose(np.asarray(u[k]), np.asarray(v[k]))


# ---------------------------------------------------------------------- hyperparams_of


def test_hyperparams_of_reads_clip_and_adamw_schedule_values():
  sched = gradtx.exponential_decay(0.1, 2, 0.5)
  np_sched = np_exponential_decay(0.1, 2, 0.5)
  tx = gradtx.chain(gradtx.clip_by_global_norm(1.0),
                    _named("adamw")(sched, weight_decay=0.05))
  p = _params()
  s = tx.init(p)
  update = jax.jit(tx.update)
  for t, factor in enumerate([3.0, 0.01, 1.0, 0.2]):
    g = jax.tree.map(lambda x: factor * x, jax.grad(_loss)(p))
    _, s = update(g, s, p)
    hp = gradtx.hyperparams_of(s)
    assert set(hp) == {"grad_norm", "clip_scale", "weight_decay", "learning_rate"}
    g_np = {k: factor * v for k, v in _np_grads({k: np.asarray(x) for k, x in p.items()}).items()}
    norm = math.sqrt(sum(float(np.sum(v * v)) for v in g_np.values()))
    np.testing.assert_allclose(float(hp["grad_norm"]), norm, rtol=1e-12)
    np.testing.assert_allclose(float(hp["clip_scale"]), min(1.0, 1.0 / norm), rtol=1e-12)
    np.testing.assert_allclose(float(hp["learning_rate"]), np_sched(t), rtol=1e-12)
    assert float(hp["weight_decay"]) == 0.05
  assert float(hp["clip_scale"]) == 1.0 and norm < 1.0  # last step not clipped


def test_hyperparams_of_param_groups_prefixes_labels():
  tx = gradtx.param_groups(_named("adamw")(1e-3, weight_decay=0.1),
                           [("b", dict(weight_decay=0.0, learning_rate=1e-2))])
  p = _params()
  _, s = tx.update(jax.grad(_loss)(p), tx.init(p), p)
  hp = gradtx.hyperparams_of(s)
  assert float(hp["default/learning_rate"]) == 1e-3
  assert float(hp["default/weight_decay"]) == 0.1
  assert float(hp["group0/learning_rate"]) == 1e-2
  assert float(hp["group0/weight_decay"]) == 0.0


# ---------------------------------------------------------------------- set_hyperparams


def test_set_hyperparams_inside_a_chain():
  adamw = _named("adamw")
  tx = gradtx.chain(gradtx.clip_by_global_norm(1.0), adamw(1e-3, weight_decay=0.1))
  tx2 = gradtx.set_hyperparams(tx, learning_rate=0.05, weight_decay=0.3, max_norm=100.0,
                               b2=0.99)
  assert tx2 == gradtx.chain(gradtx.clip_by_global_norm(100.0),
                             adamw(0.05, b2=0.99, weight_decay=0.3))
  assert tx == gradtx.chain(gradtx.clip_by_global_norm(1.0), adamw(1e-3, weight_decay=0.1))
  p = _jit_run(_counted_step()[0], tx2, steps=5)
  _close_to(p, np_adamw(0.05, b2=0.99, weight_decay=0.3), steps=5)


def test_set_hyperparams_on_an_injected_optimizer():
  itx = gradtx.inject_hyperparams(_named("adam"))(learning_rate=0.05)
  itx2 = gradtx.set_hyperparams(itx, learning_rate=0.01, b1=0.5)
  s = itx2.init(_params())
  assert float(s.hyperparams["learning_rate"]) == 0.01
  assert float(s.hyperparams["b1"]) == 0.5


def test_set_hyperparams_unknown_name_errors():
  tx = gradtx.chain(gradtx.clip_by_global_norm(1.0), _named("adamw")(1e-3))
  with pytest.raises(ValueError, match="learnin_rate"):
    gradtx.set_hyperparams(tx, learnin_rate=1e-2)
  with pytest.raises(ValueError, match="momentum_x"):
    gradtx.set_hyperparams(tx, learning_rate=1e-2, momentum_x=0.1)


def test_set_hyperparams_rmsprop_decay_leaves_momentum_alone():
  rmsprop = _named("rmsprop")
  tx = gradtx.set_hyperparams(rmsprop(0.01, decay=0.9, momentum=0.5), decay=0.95)
  assert tx == rmsprop(0.01, decay=0.95, momentum=0.5)


def test_set_hyperparams_sgd_momentum_by_factory_name():
  sgd = _named("sgd")
  assert gradtx.set_hyperparams(sgd(0.1, momentum=0.9), momentum=0.5) == sgd(0.1, momentum=0.5)
