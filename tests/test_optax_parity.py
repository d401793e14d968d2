"""Trajectory parity with Optax: every named optimizer both libraries have.

Each case runs 120 steps in float64 of a gradtx optimizer and its Optax
counterpart, built by the same expression, from the same start on the same
smooth non-quadratic loss over a tree of mixed shapes (nested dicts, a list, a
tuple, 0-d scalars, a 3-D tensor and a matrix larger than 128 x 128, which
Adafactor factors), and checks that the params agree every 10 steps.

Two of Optax's internals compute in float32 even under x64, which alone moves
trajectories by ~1e-4; the Optax side is adapted (not gradtx):
* schedules divide the int32 step count by an int (`exponential_decay`,
  `linear_schedule`, so `warmup_cosine_decay_schedule`): they get the count
  as float64;
* Adafactor's decay `1 - (t + 1)^(-0.8)` casts `t + 1` to float32: Optax's
  factored RMS gets the same formula in float64.
"""

from __future__ import annotations

import functools
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import optax
from optax._src import factorized
import pytest

import gradtx
from gradtx import optimizers

STEPS, EVERY = 120, 10
RTOL, ATOL = 1e-6, 1e-12


pytestmark = pytest.mark.usefixtures("x64")


def _init_params():
  rng = np.random.default_rng(0)
  f = lambda *shape: jnp.asarray(rng.normal(size=shape), jnp.float64)
  return {
      "dense": {"kernel": f(160, 140), "bias": f(140) * 0.1},
      "blocks": [f(3, 4, 5), {"scale": f(), "w": f(6, 2)}],
      "pair": (f(7), f()),
  }


def _targets(params):
  rng = np.random.default_rng(1)
  return jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), jnp.float64), params)


def _loss(params, targets):
  """Smooth, non-quadratic, coupled across leaves: log-cosh + quartic + (sum tanh)^2."""
  leaves = jax.tree.leaves(params)
  fit = sum(jnp.sum(jnp.log(jnp.cosh(p - t))) + 0.05 * jnp.sum((p - t) ** 4) / (1 + p.size)
            for p, t in zip(leaves, jax.tree.leaves(targets)))
  coupling = sum(jnp.sum(jnp.tanh(p)) for p in leaves)
  return fit + 0.5 * (coupling / 100.0) ** 2


_grad = jax.jit(jax.grad(_loss))  # compiled once, shared by every case
# Compiling the update steps dominates the run time; XLA's fast compile mode
# roughly halves it and does not change the float semantics (no fast-math).
_FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def _run(tx, params, targets):
  """Params after every `EVERY` of `STEPS` steps of `tx`; the update step is jitted."""
  @functools.partial(jax.jit, compiler_options=_FAST_COMPILE)
  def step(p, g, s):
    u, s = tx.update(g, s, p)
    return optax.apply_updates(p, u), s

  state, history = tx.init(params), []
  for t in range(1, STEPS + 1):
    params, state = step(params, _grad(params, targets), state)
    if t % EVERY == 0:
      history.append(params)
  return history


def _decay_rate_pow_f64(step, exponent=0.8):
  return 1.0 - (jnp.asarray(step, jnp.float64) + 1.0) ** (-exponent)


_SCHEDULES = ("exponential_decay", "warmup_cosine_decay_schedule", "cosine_decay_schedule",
              "piecewise_constant_schedule")


class _Optax:
  """Optax, with the two float32 internals above computed in float64."""

  def __getattr__(self, name):
    attr = getattr(optax, name)
    if name in _SCHEDULES:
      return lambda *a, **k: (lambda count, s=attr(*a, **k): s(jnp.asarray(count, jnp.float64)))
    if name == "scale_by_factored_rms":
      return functools.partial(attr, decay_rate_fn=_decay_rate_pow_f64)
    if name == "adafactor":
      def adafactor(*args, **kwargs):
        f64 = functools.partial(factorized.scale_by_factored_rms,
                                decay_rate_fn=_decay_rate_pow_f64)
        with mock.patch.object(factorized, "scale_by_factored_rms", f64):
          return attr(*args, **kwargs)
      return adafactor
    return attr


def _matrices(tree):
  """Mask: True on leaves with at least 2 axes (weights, not biases or scales)."""
  return jax.tree.map(lambda x: x.ndim >= 2, tree)


_LARS_WD_MASK = {"dense": {"kernel": True, "bias": False}, "blocks": True, "pair": False}

# (id, build): `build(lib)` makes the optimizer from `lib`, gradtx or Optax.
CASES = [
    ("sgd", lambda lib: lib.sgd(0.05)),
    ("sgd_momentum_schedule", lambda lib: lib.sgd(
        lib.piecewise_constant_schedule(0.02, {40: 0.5, 80: 0.2}), momentum=0.9)),
    ("sgd_nesterov", lambda lib: lib.sgd(0.02, momentum=0.9, nesterov=True)),
    ("adagrad", lambda lib: lib.adagrad(0.2)),
    ("rmsprop", lambda lib: lib.rmsprop(0.003)),
    ("rmsprop_centered", lambda lib: lib.rmsprop(0.003, centered=True)),
    ("rmsprop_nesterov_bias_correction", lambda lib: lib.rmsprop(
        0.002, decay=0.95, momentum=0.8, nesterov=True, bias_correction=True)),
    ("rmsprop_centered_momentum_eps_outside", lambda lib: lib.rmsprop(
        0.002, eps=1e-6, initial_scale=0.1, eps_in_sqrt=False, centered=True, momentum=0.7)),
    ("adadelta", lambda lib: lib.adadelta(1.0)),
    ("adadelta_decay_mask", lambda lib: lib.adadelta(0.5, rho=0.95, eps=1e-5,
                                                     weight_decay=0.01,
                                                     weight_decay_mask=_matrices)),
    ("adam", lambda lib: lib.adam(0.01, b1=0.8, eps_root=1e-10)),
    ("adamw", lambda lib: lib.adamw(0.01, weight_decay=0.1, mask=_matrices)),
    ("nadam", lambda lib: lib.nadam(0.01)),
    ("nadamw", lambda lib: lib.nadamw(0.01, weight_decay=0.05)),
    ("amsgrad", lambda lib: lib.amsgrad(0.01)),
    ("adamax", lambda lib: lib.adamax(0.01)),
    ("radam", lambda lib: lib.radam(0.01)),
    ("radam_nesterov_cosine", lambda lib: lib.radam(
        lib.cosine_decay_schedule(0.02, 100, alpha=0.1), b2=0.99, threshold=4.0,
        nesterov=True)),
    ("adabelief", lambda lib: lib.adabelief(0.01)),
    ("adabelief_nesterov", lambda lib: lib.adabelief(0.01, eps=1e-8, eps_root=0.0,
                                                     nesterov=True)),
    ("lion", lambda lib: lib.lion(1e-3)),
    ("lion_mask", lambda lib: lib.lion(1e-3, b1=0.95, b2=0.98, weight_decay=0.1,
                                       mask=_matrices)),
    ("lamb", lambda lib: lib.lamb(0.01, weight_decay=0.01, mask=_matrices)),
    ("lars", lambda lib: lib.lars(0.5)),
    ("lars_masks_nesterov", lambda lib: lib.lars(
        0.5, weight_decay=1e-3, weight_decay_mask=_LARS_WD_MASK, trust_coefficient=0.01,
        eps=1e-6, trust_ratio_mask=_matrices, nesterov=True)),
    ("adafactor", lambda lib: lib.adafactor()),
    ("adafactor_momentum_decay", lambda lib: lib.adafactor(
        0.5, momentum=0.9, dtype_momentum=jnp.float64, weight_decay_rate=1e-3,
        weight_decay_mask=_matrices, decay_offset=-10, decay_rate=0.7)),
    ("adafactor_unfactored", lambda lib: lib.adafactor(
        0.3, factored=False, clipping_threshold=None, multiply_by_parameter_scale=False)),
    # Primitive chains and schedules as learning rates.
    ("clip_by_global_norm_adamw_warmup_cosine", lambda lib: lib.chain(
        lib.clip_by_global_norm(1.0),
        lib.adamw(lib.warmup_cosine_decay_schedule(0.0, 0.03, 20, 120, 1e-3),
                  weight_decay=0.01))),
    ("clip_adam_exponential_decay", lambda lib: lib.chain(
        lib.clip(0.5), lib.scale_by_adam(b1=0.85),
        lib.scale_by_learning_rate(lib.exponential_decay(0.02, 10, 0.9, staircase=True)))),
    ("decay_rms_trace", lambda lib: lib.chain(
        lib.add_decayed_weights(1e-3), lib.scale_by_rms(), lib.scale(-2e-3), lib.trace(0.5))),
    ("lion_smooth", lambda lib: lib.chain(lib.scale_by_lion(mode="smooth", smooth_beta=3.0),
                                          lib.scale_by_learning_rate(1e-3))),
    ("factored_rms_block_rms", lambda lib: lib.chain(
        lib.scale_by_factored_rms(min_dim_size_to_factor=3, epsilon=1e-20),
        lib.clip_by_block_rms(0.5), lib.scale_by_param_block_rms(1e-2), lib.scale(-0.05))),
    # Named optimizers added with the Optax surface.
    ("sign_sgd", lambda lib: lib.sign_sgd(1e-3)),
    ("signum", lambda lib: lib.signum(1e-3, beta=0.8)),
    ("optimistic_gradient_descent", lambda lib: lib.optimistic_gradient_descent(
        0.02, alpha=0.8, beta=0.5)),
    ("optimistic_adam", lambda lib: lib.optimistic_adam(0.01, optimism=0.005)),
    ("optimistic_adam_v2", lambda lib: lib.optimistic_adam_v2(
        lib.cosine_decay_schedule(0.01, 100), alpha=0.9, beta=0.3, b1=0.85)),
    ("yogi", lambda lib: lib.yogi(0.01)),
    ("novograd", lambda lib: lib.novograd(0.01, weight_decay=1e-3)),
    ("adamaxw", lambda lib: lib.adamaxw(0.01, weight_decay=0.05)),
    ("fromage", lambda lib: lib.fromage(0.01)),
    ("noisy_sgd", lambda lib: lib.noisy_sgd(0.02, eta=0.01, key=jax.random.key(3))),
    ("belief_trust_ratio", lambda lib: lib.chain(
        lib.scale_by_belief(), lib.scale_by_trust_ratio(min_norm=1e-3, trust_coefficient=0.5),
        lib.scale_by_learning_rate(0.01))),
]


@pytest.mark.parametrize("build", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_trajectory_matches_optax(build):
  params = _init_params()
  targets = _targets(params)
  ours = _run(build(gradtx), params, targets)
  theirs = _run(build(_Optax()), params, targets)
  for i, (a, b) in enumerate(zip(ours, theirs)):
    for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(a), jax.tree.leaves(b)):
      assert x.dtype == jnp.float64 and x.shape == y.shape
      np.testing.assert_allclose(
          x, y, rtol=RTOL, atol=ATOL,
          err_msg=f"step {(i + 1) * EVERY}, leaf {jax.tree_util.keystr(path)}")
  moved = jax.tree.leaves(jax.tree.map(lambda p, q: jnp.max(jnp.abs(p - q)), params, ours[-1]))
  assert max(float(m) for m in moved) > 1e-2  # the run did something


# Shared names whose trajectories are compared elsewhere, and why not here.
COMPARED_ELSEWHERE = {
    "rprop": "follows torch.optim.Rprop / the paper where Optax 0.2.8 differs (first step "
             "-lr sign(g), Optax PR #1725): tests/test_optax_surface_references.py, "
             "docs/differences.md",
    "adan": "follows the paper's b2 weighting where Optax 0.2.8 differs (Optax PR #1715): "
            "tests/test_optax_surface_references.py, docs/differences.md",
    "sm3": "Optax 0.2.8's sm3 raises IndexError on the 0-d leaves of this tree "
           "(optax/_src/transform.py:1213); compared on other trees in "
           "tests/test_optax_surface_parity.py",
}


def test_every_shared_named_optimizer_is_covered():
  shared = {name for name in optimizers.__all__ if hasattr(optax, name)} - set(COMPARED_ELSEWHERE)
  ids = [case_id for case_id, _ in CASES]
  covered = {name for name in shared
             if any(i == name or i.startswith(name + "_") for i in ids)}
  assert shared <= covered, sorted(shared - covered)


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_one_is_accepted_and_sums_the_gradients(nesterov):
  """Optax accepts `trace(1.0)` / `sgd(lr, momentum=1.0)` (its `PartitionTest` builds one):
  the velocity is the running sum `v_t = sum_{s <= t} g_s` (NumPy float64), Nesterov's update
  `g_t + v_t`; the sgd trajectory equals Optax's."""
  rng = np.random.default_rng(0)
  gs = rng.normal(size=(8, 5))
  tx = gradtx.trace(1.0, nesterov=nesterov)
  state = tx.init(jnp.zeros(5))
  for t, g in enumerate(gs):
    u, state = tx.update(jnp.asarray(g), state)
    v = gs[: t + 1].sum(0)
    np.testing.assert_allclose(np.asarray(u), g + v if nesterov else v, rtol=1e-14, atol=1e-14)
  ours, ref = gradtx.sgd(0.1, 1.0, nesterov), optax.sgd(0.1, 1.0, nesterov)
  p = q = jnp.linspace(-1.0, 1.0, 5)
  s, r = ours.init(p), ref.init(q)
  for _ in range(20):
    u, s = ours.update(jnp.sin(3 * p), s, p)
    w, r = ref.update(jnp.sin(3 * q), r, q)
    p, q = p + u, q + w
  np.testing.assert_allclose(np.asarray(p), np.asarray(q), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("weight_decay", [0.1, lambda count: 0.1 / (1.0 + count)])
def test_add_decayed_weights_of_none_updates_is_none_like_optax(weight_decay):
  """Optax's `test_none_argument`: `update(None, state, params)` gives `None` updates (and
  Optax's step count for a schedule). The test passes the integer `0` as the state, which
  gradtx's stage reads (its state records the rate used); given its own state it agrees."""
  w = (jnp.ones(2), {"a": jnp.ones(2), "b": jnp.ones(2)})
  ours, ref = gradtx.add_decayed_weights(weight_decay), optax.add_decayed_weights(weight_decay)
  s, r = ours.init(w), ref.init(w)
  for _ in range(3):
    u, s = ours.update(None, s, w)
    v, r = ref.update(None, r, w)
    assert u is None and v is None
  if callable(weight_decay):
    assert int(s.count) == int(r.count) == 3
