"""Hyperparameter validation at construction (gradtx/_checks.py).

Concrete values out of range raise `ValueError` naming the argument and the value;
traced values (an optimizer or schedule built inside `jax.vmap` / `jax.jit`) are not
checked and keep working, so sweeps over hyperparameters are possible.

`CASES` lists, for every public factory with a numeric constraint, the argument, the
values that must be refused and a boundary value that must be accepted.
`test_every_public_factory_is_covered` keeps the list complete as factories are added.
"""

from __future__ import annotations

import importlib
import inspect
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx

_PATHS = {'adagrad': 'primitives.adaptive.adagrad', 'adam': 'primitives.moments.adam', 'rmsprop': 'primitives.adaptive.rmsprop', 'momentum': 'primitives.moments.momentum', 'radam': 'primitives.moments.radam', 'belief': 'primitives.moments.belief', 'adadelta': 'primitives.adaptive.adadelta', 'lion': 'primitives.moments.lion', 'factored': 'primitives.adaptive.factored', 'trust_ratio': 'primitives.scaling.trust_ratio', 'clipping': 'primitives.clipping.clipping', 'scaling': 'primitives.scaling.scaling', 'weight_decay': 'primitives.decay.weight_decay', 'accumulation': 'wrappers.accumulation', 'finite': 'wrappers.finite'}
accumulation, adadelta, belief, factored, lion, optimizers, radam, trust_ratio = (
    importlib.import_module(f"gradtx.{_PATHS.get(m, m)}") for m in (
        "accumulation", "adadelta", "belief", "factored", "lion", "optimizers", "radam",
        "trust_ratio"))

import _reliability as R

NAN = math.nan
RATE = (-0.1, 1.0, 1.5, NAN)        # b1, b2, decay, momentum, rho: [0, 1)
NONNEG = (-1e-8, -1.0, NAN)        # eps, eps_root, initial accumulators: >= 0
POSITIVE = (0.0, -1.0, NAN)        # clip thresholds, numbers of steps: > 0

O = optimizers


def _lr(fn):
  return lambda **kw: fn(0.1, **kw)


# (id, factory taking keywords, argument, bad values, a boundary value that is valid)
CASES = []


def _add(fid, fn, arg, bad, ok):
  CASES.append((fid, fn, arg, bad, ok))


for _name in ["adam", "adamw", "nadam", "nadamw", "amsgrad", "radam", "adabelief", "lamb"]:
  _fn = _lr(getattr(O, _name))
  _add(_name, _fn, "b1", RATE, 0.0)
  _add(_name, _fn, "b2", RATE, 0.0)
  _add(_name, _fn, "eps", NONNEG, 0.0)
  _add(_name, _fn, "eps_root", NONNEG, 0.0)
_add("adamax", _lr(O.adamax), "b1", RATE, 0.0)
_add("adamax", _lr(O.adamax), "b2", RATE, 0.0)
_add("adamax", _lr(O.adamax), "eps", NONNEG, 0.0)
_add("sgd", _lr(O.sgd), "momentum", (-0.1, 1.5, NAN), 1.0)  # [0, 1]: Optax builds trace(1.0)
_add("adagrad", _lr(O.adagrad), "initial_accumulator_value", NONNEG, 0.0)
_add("adagrad", _lr(O.adagrad), "eps", NONNEG, 0.0)
_add("rmsprop", _lr(O.rmsprop), "decay", RATE, 0.0)
_add("rmsprop", _lr(O.rmsprop), "eps", NONNEG, 0.0)
_add("rmsprop", _lr(O.rmsprop), "initial_scale", NONNEG, 0.0)
_add("rmsprop", _lr(O.rmsprop), "momentum", RATE, 0.0)
_add("adadelta", O.adadelta, "rho", RATE, 0.0)
_add("adadelta", O.adadelta, "eps", NONNEG, 0.0)
_add("lion", _lr(O.lion), "b1", (-0.1, 1.5, NAN), 1.0)
_add("lion", _lr(O.lion), "b2", RATE, 0.0)
_add("lars", _lr(O.lars), "momentum", RATE, 0.0)
_add("lars", _lr(O.lars), "eps", NONNEG, 0.0)
_add("adafactor", O.adafactor, "decay_rate", NONNEG, 0.0)
_add("adafactor", O.adafactor, "clipping_threshold", POSITIVE, 1e-6)
_add("adafactor", O.adafactor, "eps", NONNEG, 0.0)
_add("adafactor", O.adafactor, "momentum", RATE, 0.0)
# primitives
for _fn, _fid in [(gradtx.scale_by_adam, "scale_by_adam"), (gradtx.scale_by_amsgrad,
                  "scale_by_amsgrad"), (radam.scale_by_radam, "scale_by_radam"),
                  (belief.scale_by_belief, "scale_by_belief")]:
  _add(_fid, _fn, "b1", RATE, 0.0)
  _add(_fid, _fn, "b2", RATE, 0.0)
  _add(_fid, _fn, "eps", NONNEG, 0.0)
  _add(_fid, _fn, "eps_root", NONNEG, 0.0)
_add("scale_by_adamax", gradtx.scale_by_adamax, "b1", RATE, 0.0)
_add("scale_by_adamax", gradtx.scale_by_adamax, "b2", RATE, 0.0)
_add("scale_by_adamax", gradtx.scale_by_adamax, "eps", NONNEG, 0.0)
_add("scale_by_rss", gradtx.scale_by_rss, "initial_accumulator_value", NONNEG, 0.0)
_add("scale_by_rss", gradtx.scale_by_rss, "eps", NONNEG, 0.0)
for _fn, _fid in [(gradtx.scale_by_rms, "scale_by_rms"), (gradtx.scale_by_stddev,
                  "scale_by_stddev")]:
  _add(_fid, _fn, "decay", RATE, 0.0)
  _add(_fid, _fn, "eps", NONNEG, 0.0)
  _add(_fid, _fn, "initial_scale", NONNEG, 0.0)
_add("trace", gradtx.trace, "decay", (-0.1, 1.5, NAN), 1.0)  # [0, 1], as sgd's momentum
_add("ema", gradtx.ema, "decay", RATE, 0.0)
_add("clip", gradtx.clip, "max_delta", POSITIVE, 1e-6)
_add("clip_by_global_norm", gradtx.clip_by_global_norm, "max_norm", POSITIVE, 1e-6)
_add("clip_by_block_rms", factored.clip_by_block_rms, "threshold", POSITIVE, 1e-6)
_add("scale_by_trust_ratio", trust_ratio.scale_by_trust_ratio, "min_norm", NONNEG, 0.0)
_add("scale_by_trust_ratio", trust_ratio.scale_by_trust_ratio, "eps", NONNEG, 0.0)
_add("scale_by_param_block_rms", factored.scale_by_param_block_rms, "min_scale", NONNEG, 0.0)
_add("scale_by_adadelta", adadelta.scale_by_adadelta, "rho", RATE, 0.0)
_add("scale_by_adadelta", adadelta.scale_by_adadelta, "eps", NONNEG, 0.0)
_add("scale_by_lion", lion.scale_by_lion, "b1", (-0.1, 1.5, NAN), 1.0)
_add("scale_by_lion", lion.scale_by_lion, "b2", RATE, 0.0)
_add("scale_by_factored_rms", factored.scale_by_factored_rms, "decay_rate", NONNEG, 0.0)
_add("scale_by_factored_rms", factored.scale_by_factored_rms, "epsilon", NONNEG, 0.0)
_ADAM = gradtx.adam(0.1)
_add("accumulate_gradients", lambda **kw: gradtx.accumulate_gradients(_ADAM, **kw), "every_k",
     POSITIVE, 1)
_add("apply_if_finite", lambda **kw: gradtx.apply_if_finite(_ADAM, **kw),
     "max_consecutive_errors", (-1, NAN), 0)
# schedules
_add("linear_schedule", lambda **kw: gradtx.linear_schedule(**{
    "init_value": 1.0, "end_value": 0.0, "transition_steps": 10, **kw}),
     "transition_steps", (NAN,), 0)  # <= 0: Optax's constant schedule, with a warning
_add("linear_schedule", lambda **kw: gradtx.linear_schedule(1.0, 0.0, 10, **kw),
     "transition_begin", (NAN,), 0)  # < 0 counts as 0, with a warning (Optax)
_add("polynomial_schedule", lambda **kw: gradtx.polynomial_schedule(**{
    "init_value": 1.0, "end_value": 0.0, "power": 2.0, "transition_steps": 10, **kw}),
     "transition_steps", (NAN,), 0)
_add("polynomial_schedule", lambda **kw: gradtx.polynomial_schedule(1.0, 0.0, 2.0, 10, **kw),
     "transition_begin", (NAN,), 0)
_add("exponential_decay", lambda **kw: gradtx.exponential_decay(**{
    "init_value": 1.0, "transition_steps": 10, "decay_rate": 0.5, **kw}),
     "transition_steps", (NAN,), 1)  # <= 0: constant, with a warning (Optax)
_add("exponential_decay", lambda **kw: gradtx.exponential_decay(**{
    "init_value": 1.0, "transition_steps": 10, "decay_rate": 0.5, **kw}),
     "decay_rate", (-1.0, NAN), 0.0)  # 0: constant, with a warning (Optax)
_add("exponential_decay", lambda **kw: gradtx.exponential_decay(1.0, 10, 0.5, **kw),
     "transition_begin", (NAN,), 0)
_add("inverse_time_decay", lambda **kw: gradtx.inverse_time_decay(**{
    "init_value": 1.0, "decay_rate": 0.5, **kw}), "decay_rate", NONNEG, 0.0)
_add("inverse_time_decay", lambda **kw: gradtx.inverse_time_decay(1.0, 0.5, **kw),
     "decay_steps", POSITIVE, 1)
_add("inverse_sqrt_decay", lambda **kw: gradtx.inverse_sqrt_decay(1.0, **kw), "offset",
     POSITIVE, 1e-3)
_add("cosine_decay_schedule", lambda **kw: gradtx.cosine_decay_schedule(**{
    "init_value": 1.0, "decay_steps": 10, **kw}), "decay_steps", POSITIVE, 1)
_add("warmup_cosine_decay_schedule", lambda **kw: gradtx.warmup_cosine_decay_schedule(**{
    "init_value": 0.0, "peak_value": 1.0, "warmup_steps": 5, "decay_steps": 100, **kw}),
     "warmup_steps", (-1, NAN), 0)
_add("warmup_cosine_decay_schedule", lambda **kw: gradtx.warmup_cosine_decay_schedule(**{
    "init_value": 0.0, "peak_value": 1.0, "warmup_steps": 5, "decay_steps": 100, **kw}),
     "decay_steps", (5, 3, NAN), 6)
_add("epoch_schedule", lambda **kw: gradtx.epoch_schedule(lambda e: e, **kw),
     "steps_per_epoch", POSITIVE, 1)

# --- factories added with the Optax surface (sign, optimistic, adaptive, solvers, ...) ---------
def _find(name):
  """The public factory `name` (top level or gradtx.optimizers), or None if absent."""
  return getattr(gradtx, name, None) or getattr(O, name, None)


_NEW_CASES = [
    # (factory name, takes a learning rate first, [(argument, bad values, valid boundary)])
    ("adamaxw", True, [("b1", RATE, 0.0), ("b2", RATE, 0.0), ("eps", NONNEG, 0.0)]),
    ("adan", True, [("b1", RATE, 0.0), ("b2", RATE, 0.0), ("b3", RATE, 0.0),
                    ("eps", NONNEG, 0.0), ("eps_root", NONNEG, 0.0)]),
    ("scale_by_adan", False, [("b1", RATE, 0.0), ("b2", RATE, 0.0), ("b3", RATE, 0.0),
                              ("eps", NONNEG, 0.0), ("eps_root", NONNEG, 0.0)]),
    ("yogi", True, [("b1", RATE, 0.0), ("b2", RATE, 0.0), ("eps", NONNEG, 0.0)]),
    ("scale_by_yogi", False, [("b1", RATE, 0.0), ("b2", RATE, 0.0), ("eps", NONNEG, 0.0),
                              ("eps_root", NONNEG, 0.0)]),
    ("novograd", True, [("b1", RATE, 0.0), ("b2", RATE, 0.0), ("eps", NONNEG, 0.0),
                        ("eps_root", NONNEG, 0.0), ("weight_decay", NONNEG, 0.0)]),
    ("scale_by_novograd", False, [("b1", RATE, 0.0), ("b2", RATE, 0.0), ("eps", NONNEG, 0.0),
                                  ("eps_root", NONNEG, 0.0), ("weight_decay", NONNEG, 0.0)]),
    ("sm3", True, [("momentum", RATE, 0.0)]),
    ("scale_by_sm3", False, [("b1", RATE, 0.0), ("b2", (-0.1, 1.5, NAN), 1.0),
                             ("eps", NONNEG, 0.0)]),
    ("fromage", True, [("min_norm", NONNEG, 0.0)]),
    ("noisy_sgd", True, [("eta", NONNEG, 0.0), ("gamma", NONNEG, 0.0)]),
    ("add_noise", False, []),  # covered by the explicit entries below (needs eta, gamma)
    ("signum", True, [("beta", RATE, 0.0)]),
    ("rprop", True, [("eta_minus", (0.0, 1.0, -0.5, NAN), 0.5)]),
    ("scale_by_rprop", True, [("eta_minus", (0.0, 1.0, -0.5, NAN), 0.5)]),
    ("kron", True, [("b1", RATE, 0.0)]),
    ("scale_by_kron", False, [("b1", RATE, 0.0)]),
    ("optimistic_gradient_descent", True, [("alpha", NONNEG, 0.0), ("beta", NONNEG, 0.0)]),
    ("optimistic_adam", True, [("b1", RATE, 0.0), ("b2", RATE, 0.0), ("eps", NONNEG, 0.0),
                               ("eps_root", NONNEG, 0.0)]),
    ("optimistic_adam_v2", True, [("alpha", NONNEG, 0.0), ("beta", NONNEG, 0.0),
                                  ("b1", RATE, 0.0), ("b2", RATE, 0.0), ("eps", NONNEG, 0.0),
                                  ("eps_root", NONNEG, 0.0)]),
    ("scale_by_optimistic_gradient", False, [("alpha", NONNEG, 0.0), ("beta", NONNEG, 0.0)]),
    ("scale_by_nadam", False, [("b1", RATE, 0.0), ("b2", RATE, 0.0), ("eps", NONNEG, 0.0)]),
    ("dampened_trace", False, [("decay", RATE, 0.0), ("dampening", (-0.1, 1.5, NAN), 1.0)]),
    ("scale_by_laprop", False, [("b1", RATE, 0.0), ("b2", RATE, 0.0), ("eps", NONNEG, 0.0)]),
    ("laprop", True, [("b1", RATE, 0.0), ("b2", RATE, 0.0), ("eps", NONNEG, 0.0)]),
    ("scale_by_mars", False, [("b1", RATE, 0.0), ("b2", RATE, 0.0), ("gamma", NONNEG, 0.0),
                              ("eps", NONNEG, 0.0)]),
    ("mars", True, [("b1", RATE, 0.0), ("b2", RATE, 0.0), ("gamma", NONNEG, 0.0),
                    ("eps", NONNEG, 0.0)]),
    ("scale_by_distance_over_gradients", False, [("reps_rel", POSITIVE, 1e-8),
                                                 ("eps", NONNEG, 0.0)]),
    ("adaptive_grad_clip", False, []),
    ("clip_by_global_p_norm", False, []),
    ("normalize_by_update_norm", False, [("eps", NONNEG, 0.0)]),
    ("scale_by_param_block_norm", False, [("min_scale", NONNEG, 0.0)]),
    ("polyak_sgd", False, [("max_learning_rate", POSITIVE, 1e-6), ("eps", NONNEG, 0.0)]),
    ("scale_by_polyak", False, [("max_learning_rate", POSITIVE, 1e-6), ("eps", NONNEG, 0.0)]),
    ("lbfgs", False, [("memory_size", POSITIVE, 1)]),
    ("scale_by_lbfgs", False, [("memory_size", POSITIVE, 1)]),
    ("scale_by_backtracking_linesearch", False, []),
    ("scale_by_zoom_linesearch", False, []),
    ("soap", False, [("b1", RATE, 0.0), ("b2", RATE, 0.0), ("shampoo_beta", (1.0, 1.5, NAN), 0.0),
                     ("eps", NONNEG, 0.0), ("precondition_frequency", POSITIVE, 1)]),
    ("scale_by_soap", False, [("b1", RATE, 0.0), ("b2", RATE, 0.0), ("eps", NONNEG, 0.0),
                              ("precondition_frequency", POSITIVE, 1)]),
    ("shampoo", True, [("matrix_eps", NONNEG, 0.0), ("graft_eps", NONNEG, 0.0),
                       ("precondition_frequency", POSITIVE, 1)]),
    ("scale_by_shampoo", False, [("matrix_eps", NONNEG, 0.0), ("graft_eps", NONNEG, 0.0),
                                 ("precondition_frequency", POSITIVE, 1)]),
    ("add_stepped_weight_decay", True, [("weight_decay", NONNEG, 0.0)]),
    ("apply_every", False, [("k", POSITIVE, 1)]),
    ("ema_params", False, [("decay", RATE, 0.0)]),
    ("polynomial_averaging", False, [("gamma", NONNEG, 0.0)]),
]
for _name, _takes_lr, _args in _NEW_CASES:
  _fn = _find(_name)
  if _fn is None:  # not (yet) exported in this checkout
    continue
  for _arg, _bad, _ok in _args:
    _add(_name, _lr(_fn) if _takes_lr else _fn, _arg, _bad, _ok)
_KEY = jax.random.PRNGKey(0)
_add("add_noise", lambda **kw: gradtx.add_noise(**{"eta": 0.01, "gamma": 0.55, "key": _KEY, **kw}),
     "eta", NONNEG, 0.0)
_add("add_noise", lambda **kw: gradtx.add_noise(**{"eta": 0.01, "gamma": 0.55, "key": _KEY, **kw}),
     "gamma", NONNEG, 0.0)
_add("adaptive_grad_clip", gradtx.adaptive_grad_clip, "clipping", (-1.0, NAN), 0.0)
_add("adaptive_grad_clip", lambda **kw: gradtx.adaptive_grad_clip(0.1, **kw), "eps", NONNEG, 0.0)
_add("clip_by_global_p_norm", gradtx.clip_by_global_p_norm, "max_norm", (-1.0, NAN), 0.0)
_add("clip_by_global_p_norm", lambda **kw: gradtx.clip_by_global_p_norm(1.0, **kw), "norm_type",
     POSITIVE, 1.0)
_add("clip_by_global_p_norm", lambda **kw: gradtx.clip_by_global_p_norm(1.0, **kw), "eps",
     NONNEG, 0.0)
_add("scale_by_backtracking_linesearch", gradtx.scale_by_backtracking_linesearch,
     "max_backtracking_steps", POSITIVE, 1)
_add("scale_by_backtracking_linesearch",
     lambda **kw: gradtx.scale_by_backtracking_linesearch(5, **kw), "decrease_factor",
     (0.0, 1.5, NAN), 1.0)
_add("scale_by_backtracking_linesearch",
     lambda **kw: gradtx.scale_by_backtracking_linesearch(5, **kw), "slope_rtol", NONNEG, 0.0)
_add("scale_by_zoom_linesearch", gradtx.scale_by_zoom_linesearch, "max_linesearch_steps",
     POSITIVE, 1)
_add("scale_by_zoom_linesearch", lambda **kw: gradtx.scale_by_zoom_linesearch(5, **kw),
     "curv_rtol", NONNEG, 0.0)
_add("lookahead", lambda **kw: gradtx.lookahead(**{"fast_optimizer": _ADAM, "sync_period": 2,
                                                  "slow_step_size": 0.5, **kw}),
     "sync_period", POSITIVE, 1)
_add("lookahead", lambda **kw: gradtx.lookahead(**{"fast_optimizer": _ADAM, "sync_period": 2,
                                                  "slow_step_size": 0.5, **kw}),
     "slow_step_size", (-0.1, 1.5, NAN), 1.0)
_add("cautious", lambda **kw: gradtx.cautious(_ADAM, **kw), "eps", POSITIVE, 1e-8)
_add("measure_with_ema", lambda **kw: gradtx.measure_with_ema(**{
    "measure": lambda u: u, "decay": 0.9, **kw}), "decay", RATE, 0.0)
_add("linear_onecycle_schedule", lambda **kw: gradtx.linear_onecycle_schedule(100, 1.0, **kw),
     "pct_start", (-0.1, 1.5, NAN), 0.0)
_add("linear_onecycle_schedule", lambda **kw: gradtx.linear_onecycle_schedule(100, 1.0, **kw),
     "pct_final", (-0.1, 1.5, NAN), 1.0)
_add("cosine_onecycle_schedule", lambda **kw: gradtx.cosine_onecycle_schedule(100, 1.0, **kw),
     "pct_start", (-0.1, 1.5, NAN), 0.0)
_add("warmup_constant_schedule", lambda **kw: gradtx.warmup_constant_schedule(**{
    "init_value": 0.0, "peak_value": 1.0, "warmup_steps": 5, **kw}),
     "warmup_steps", (NAN,), 0)  # <= 0: constant (linear_schedule, as in Optax)
_add("warmup_exponential_decay_schedule", lambda **kw: gradtx.warmup_exponential_decay_schedule(
    **{"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 5, "transition_steps": 10,
       "decay_rate": 0.5, **kw}), "decay_rate", (-1.0, NAN), 0.0)
_add("warmup_exponential_decay_schedule", lambda **kw: gradtx.warmup_exponential_decay_schedule(
    **{"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 5, "transition_steps": 10,
       "decay_rate": 0.5, **kw}), "transition_steps", (NAN,), 1)

# (factory id, argument) pairs whose check is missing in the factory's module.
MISSING: dict = {}  # every check the inventory expects now exists

# (factory id, argument) pairs refused, but under the inner primitive's own name for the
# argument (and, for warmup_cosine_decay_schedule, a derived value), not the caller's.
RENAMED: dict = {}  # every error now names the argument as the caller passed it


def _params():
  out = []
  for fid, fn, arg, bad, _ in CASES:
    for value in bad:
      marks = []
      if (fid, arg) in MISSING:
        marks = [pytest.mark.xfail(strict=True, reason="missing check: " + MISSING[fid, arg])]
      out.append(pytest.param(fn, arg, value, marks=marks, id=f"{fid}-{arg}={value}"))
  return out


@pytest.mark.parametrize("fn,arg,value", _params())
def test_out_of_range_value_is_refused(fn, arg, value):
  with pytest.raises(ValueError) as info:
    fn(**{arg: value})
  msg = str(info.value)
  assert "invalid" in msg and "expected" in msg, msg


def _named_params():
  out = []
  for fid, fn, arg, bad, _ in CASES:
    if (fid, arg) in MISSING:
      continue
    value = bad[0]
    marks = []
    if (fid, arg) in RENAMED:
      marks = [pytest.mark.xfail(strict=True, reason="argument renamed: " + RENAMED[fid, arg])]
    out.append(pytest.param(fn, arg, value, marks=marks, id=f"{fid}-{arg}"))
  return out


@pytest.mark.parametrize("fn,arg,value", _named_params())
def test_error_names_the_argument_as_passed_and_its_value(fn, arg, value):
  with pytest.raises(ValueError) as info:
    fn(**{arg: value})
  msg = str(info.value)
  assert f"{arg}={value!r}" in msg, msg


@pytest.mark.parametrize("fn,arg,ok", [pytest.param(fn, arg, ok, id=f"{fid}-{arg}={ok}")
                                       for fid, fn, arg, _, ok in CASES])
def test_boundary_value_is_accepted(fn, arg, ok):
  fn(**{arg: ok})


@pytest.mark.parametrize("fn,arg,ok", [pytest.param(fn, arg, ok, id=f"{fid}-{arg}")
                                       for fid, fn, arg, _, ok in CASES])
@pytest.mark.parametrize("wrap", [np.float32, jnp.asarray], ids=["numpy", "jax"])
def test_array_hyperparameters_are_checked_too(fn, arg, ok, wrap):
  """0-d NumPy and concrete JAX values are validated like Python numbers."""
  fn(**{arg: wrap(ok)})


@pytest.mark.parametrize("wrap", [float, np.float32, jnp.asarray], ids=["python", "numpy", "jax"])
def test_concrete_array_values_out_of_range_are_refused(wrap):
  with pytest.raises(ValueError, match="b2="):
    gradtx.adam(0.1, b2=wrap(1.0))


def test_string_hyperparameter_is_a_type_error_naming_it():
  with pytest.raises(TypeError, match="b1='0.9'"):
    gradtx.adam(0.1, b1="0.9")


def test_linear_schedule_with_zero_transition_steps_is_constant():
  """0 transition steps is accepted (as in Optax): the value stays `init_value`."""
  schedule = gradtx.linear_schedule(1.0, 0.0, 0)
  np.testing.assert_allclose([schedule(t) for t in (0, 1, 100)], [1.0, 1.0, 1.0])


def test_join_schedules_needs_one_boundary_fewer():
  with pytest.raises(ValueError, match="one boundary fewer"):
    gradtx.join_schedules([gradtx.constant_schedule(1.0)] * 2, [1, 2])


def test_piecewise_constant_negative_boundary_is_refused():
  with pytest.raises(ValueError, match="boundary=-1"):
    gradtx.piecewise_constant_schedule(1.0, {-1: 0.5})


def test_warmup_cosine_with_zero_peak_is_zero():
  """peak_value = 0 (Optax: alpha = 0) is a constant 0 schedule, not a ZeroDivisionError."""
  schedule = gradtx.warmup_cosine_decay_schedule(0.0, 0.0, 5, 100)
  assert float(schedule(10)) == 0.0


# --- traced hyperparameters keep working ------------------------------------------------------

# name -> hyperparameters to sweep (3 values each, all valid).
SWEEPS = {
    "sgd+momentum": dict(learning_rate=[0.01, 0.05, 0.1], momentum=[0.0, 0.5, 0.9]),
    "adagrad": dict(learning_rate=[0.01, 0.1, 0.3], initial_accumulator_value=[0.0, 0.1, 1.0],
                    eps=[0.0, 1e-7, 1e-3]),
    "rmsprop": dict(learning_rate=[0.01, 0.02, 0.03], decay=[0.0, 0.9, 0.99], eps=[0.0, 1e-8, 1e-3]),
    "adam": dict(learning_rate=[0.01, 0.02, 0.1], b1=[0.0, 0.9, 0.5], b2=[0.9, 0.999, 0.0],
                 eps=[0.0, 1e-8, 1e-3]),
    "adamw": dict(learning_rate=[0.01, 0.02, 0.1], b1=[0.0, 0.9, 0.5],
                  weight_decay=[0.0, 0.01, 0.1]),
    "nadam": dict(learning_rate=[0.01, 0.02, 0.1], b1=[0.0, 0.9, 0.5], b2=[0.9, 0.999, 0.5]),
    "nadamw": dict(learning_rate=[0.01, 0.02, 0.1], weight_decay=[0.0, 0.01, 0.1]),
    "amsgrad": dict(learning_rate=[0.01, 0.02, 0.1], b2=[0.9, 0.999, 0.5]),
    "adamax": dict(learning_rate=[0.01, 0.02, 0.1], b1=[0.0, 0.9, 0.5], b2=[0.9, 0.999, 0.5]),
    "radam": dict(learning_rate=[0.01, 0.02, 0.1], b2=[0.5, 0.999, 0.9],
                  threshold=[0.0, 5.0, 1e9]),
    "adabelief": dict(learning_rate=[0.01, 0.02, 0.1], b1=[0.0, 0.9, 0.5]),
    "adadelta": dict(learning_rate=[0.5, 1.0, 2.0], rho=[0.0, 0.9, 0.99], eps=[1e-6, 1e-3, 0.0]),
    "lion": dict(learning_rate=[0.001, 0.01, 0.1], b1=[0.0, 0.9, 1.0], b2=[0.0, 0.99, 0.5]),
    "lamb": dict(learning_rate=[0.01, 0.02, 0.1], weight_decay=[0.0, 0.01, 0.1]),
    "lars": dict(learning_rate=[0.01, 0.1, 0.3], momentum=[0.0, 0.5, 0.9],
                 trust_coefficient=[0.001, 0.01, 1.0]),
    "adafactor": dict(learning_rate=[0.01, 0.02, 0.1], decay_rate=[0.5, 0.8, 1.0],
                      clipping_threshold=[0.5, 1.0, 2.0]),
}


def test_sweeps_cover_every_stateful_named_optimizer():
  assert set(SWEEPS) == set(R.NAMES) - R.STATELESS


def _sweep_problem():
  params = {"w": jnp.array([[0.5, -1.0, 2.0], [0.1, 0.2, -0.3]]), "b": jnp.array([0.3, -0.2])}
  grads = [jax.tree.map(lambda x, k=k: jnp.sin(x * (k + 1.0)) + 0.1 * k, params)
           for k in range(2)]
  return params, grads


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_optimizer_built_inside_vmap_equals_the_loop(name):
  sweep = SWEEPS[name]
  params, grads = _sweep_problem()

  def train(hparams):
    tx = R.make(name, **hparams)
    p, _, _ = R.run(tx, params, grads)
    return p

  batched = jax.jit(jax.vmap(train))({k: jnp.asarray(v) for k, v in sweep.items()})
  for i in range(3):
    expected = train({k: v[i] for k, v in sweep.items()})
    R.assert_trees_close(jax.tree.map(lambda x: x[i], batched), expected, rtol=2e-5,
                         atol=2e-6, err=f"{name} sweep element {i}")


SCHEDULE_SWEEPS = {
    "linear_schedule": (lambda a, b: gradtx.linear_schedule(a, 0.0, b), [1.0, 2.0, 3.0],
                        [0.0, 4.0, 10.0]),
    "polynomial_schedule": (lambda a, b: gradtx.polynomial_schedule(1.0, 0.0, a, b),
                            [1.0, 2.0, 0.5], [1.0, 4.0, 10.0]),
    "exponential_decay": (lambda a, b: gradtx.exponential_decay(1.0, b, a), [0.5, 0.9, 2.0],
                          [1.0, 3.0, 10.0]),
    "inverse_time_decay": (lambda a, b: gradtx.inverse_time_decay(1.0, a, b), [0.0, 0.5, 2.0],
                           [1.0, 2.0, 5.0]),
    "inverse_sqrt_decay": (lambda a, b: gradtx.inverse_sqrt_decay(a, 1.0, b), [1.0, 0.5, 2.0],
                           [1.0, 2.0, 0.5]),
    "cosine_decay_schedule": (lambda a, b: gradtx.cosine_decay_schedule(1.0, b, a),
                              [0.0, 0.1, 0.5], [1.0, 5.0, 10.0]),
    "warmup_cosine_decay_schedule": (lambda a, b: gradtx.warmup_cosine_decay_schedule(
        0.0, a, b, 20.0), [1.0, 0.5, 2.0], [0.0, 2.0, 5.0]),
    "piecewise_constant_schedule": (lambda a, b: gradtx.piecewise_constant_schedule(
        b, {2: a, 5: a}), [0.5, 0.1, 2.0], [1.0, 2.0, 0.5]),
    "epoch_schedule": (lambda a, b: gradtx.epoch_schedule(
        gradtx.exponential_decay(1.0, 1, a), b), [0.5, 0.9, 0.99], [1.0, 2.0, 3.0]),
}


@pytest.mark.parametrize("name", sorted(SCHEDULE_SWEEPS))
def test_schedule_built_inside_vmap_equals_the_loop(name):
  build, a_values, b_values = SCHEDULE_SWEEPS[name]
  counts = jnp.arange(8)

  def values(a, b):
    schedule = build(a, b)
    return jax.vmap(schedule)(counts)

  batched = jax.vmap(values)(jnp.asarray(a_values), jnp.asarray(b_values))
  for i in range(3):
    np.testing.assert_allclose(batched[i], values(a_values[i], b_values[i]), rtol=1e-6,
                               atol=1e-7, err_msg=f"{name} element {i}")


def test_out_of_range_traced_values_are_not_checked_under_jit():
  """No bool(tracer): an invalid traced value is the caller's business (and gives NaN
  or a diverging run, never a ConcretizationTypeError)."""
  params = {"w": jnp.ones(2)}

  @jax.jit
  def first_update(b1):
    tx = gradtx.adam(0.1, b1=b1)
    return tx.update({"w": jnp.ones(2)}, tx.init(params), params)[0]

  assert np.all(np.isfinite(first_update(0.5)["w"]))
  first_update(1.0)  # would raise if concrete


_add("scale_by_asgd", lambda **kw: gradtx.scale_by_asgd(**kw), "lambd", NONNEG, 0.0)
_add("scale_by_asgd", lambda **kw: gradtx.scale_by_asgd(**kw), "t0", NONNEG, 0.0)
# --- inventory -------------------------------------------------------------------------------

# Public factories with no numeric constraint to check, and why.
NO_CONSTRAINTS = {
    "scale": "any step size (negative flips the sign)",
    "scale_by_learning_rate": "any learning rate or schedule",
    "scale_by_schedule": "a callable",
    "add_decayed_weights": "any weight decay (also a schedule)",
    "identity": "no arguments", "set_to_zero": "no arguments", "zero_nans": "no arguments",
    "stateless": "a function", "stateless_with_tree_map": "a function",
    "chain": "transformations", "masked": "a mask", "partition": "labels",
    "multi_transform": "labels", "freeze": "a mask", "param_groups": "selectors",
    "inject_hyperparams": "a factory", "constant_schedule": "any value",
    "join_schedules": "lengths checked (test_join_schedules_needs_one_boundary_fewer)",
    "piecewise_constant_schedule": "boundaries >= 0 (test_piecewise_constant_negative_boundary"
                                   "_is_refused); scales >= 0 (tests/test_optax_schedules.py)",
    "piecewise_interpolate_schedule": "interpolate_type, scales >= 0 "
                                      "(tests/test_optax_schedules.py)",
    "sgdr_schedule": "a list of warmup-cosine kwargs, each validated by "
                     "warmup_cosine_decay_schedule",
    "inject_stateful_hyperparams": "a factory (deprecated alias of inject_hyperparams)",
    "sign_sgd": "only a learning rate (any value or schedule)",
    "scale_by_sign": "no arguments", "centralize": "no arguments",
    "keep_params_nonnegative": "no arguments",
    "fromage_step": "any learning rate or schedule",
    "compensated_updates": "a method name (checked against the known methods) and a seed",
    "swa": "start/every: step counts, tests/test_averaging*.py",
    "conditionally_mask": "a transformation and a function",
    "conditionally_transform": "a transformation and a function",
    "selective_transform": "a transformation and a mask", "flatten": "a transformation",
    "named_chain": "transformations", "with_extra_args_support": "a transformation",
    "monitor": "functions", "snapshot": "a function", "microbatch": "a function transform",
    "value_and_grad_from_state": "a function",
    "kron_update_probability": "a schedule of update probabilities (preconditioning area, "
                               "its engineer owns its checks)",
}
# Public functions that are numerics or tree helpers, not transformation factories.
HELPERS = {
    "asgd_average", "averaged_params", "bias_correction", "global_p_norm", "incremental_update",
    "init_empty_state", "matrix_inverse_pth_root", "multi_normal", "nnls",
    "per_example_global_norm_clip", "per_example_layer_norm_clip", "periodic_update",
    "power_iteration", "safe_increment", "safe_int32_increment", "safe_norm",
    "safe_root_mean_squares", "scale_gradient", "skip_large_updates", "skip_not_finite",
    "tree_map_params", "unitwise_clip", "unitwise_norm", "update_infinity_moment",
    "update_moment", "update_moment_per_elem_norm",
}


def _public_factories():
  modules = [gradtx, optimizers, accumulation, adadelta, belief, factored, lion, radam,
             trust_ratio]
  names = set()
  for module in modules:
    for name in getattr(module, "__all__", []):
      fn = getattr(module, name)
      if inspect.isfunction(fn):
        names.add(name)
  return names - {"apply_updates", "global_norm", "all_finite", "hyperparams_of",
                  "set_hyperparams", "by_path", "by_ndim", "by_leaf", "decay_rate_pow",
                  "path_str", "inverse_root", "require_params", "block_norm", "block_rms",
                  "factored_dims", "adam_moments", "adam_direction"} - HELPERS


def test_every_public_factory_is_covered():
  covered = {fid for fid, *_ in CASES} | set(NO_CONSTRAINTS)
  missing = sorted(_public_factories() - covered)
  assert not missing, f"factories with no validation case and no NO_CONSTRAINTS entry: {missing}"
