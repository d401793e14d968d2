"""Every named optimizer reaches the minimum of the sources' toy problems.

* The one-dimensional bowl J(W) = 0.1 (W - 5)^2 from W = 10 (the gradient there
  is 1; the minimum is W = 5): |W - 5| <= BOWL_TOL after the stated steps.
* A Rosenbrock-style valley (a - x)^2 + b (y - x^2)^2, a = 1, b = 10, from
  (-1, 1.5): ||(x, y) - (a, a^2)|| <= the stated tolerance after the stated steps.

The learning rate and step count of each optimizer are in the BOWL and ROSENBROCK
dicts below, with, in a comment, the step from which the run stayed within
tolerance when they were set (the step counts leave a margin of 1.4x or more over
it). Sign- and trust-ratio-based optimizers (Lion, LAMB, LARS, Adafactor) take
steps of a fixed relative size, so they get a decaying learning rate; so does
Adadelta on the valley, where its unit step wanders (also with Optax's Adadelta).

The optimizers are looked up by name with `getattr(gradtx, name)` (falling back to
`gradtx.optimizers` for ones not yet re-exported at the top level); only names
that exist are parametrized, and the names missing are listed in MISSING and in
`test_list_of_optimizers`. Runs are float32 (default JAX mode), one jitted
`lax.scan` per optimizer and problem.
"""

from __future__ import annotations

import functools
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
import gradtx.optimizers

# Optimizers this file knows (the initial set plus those being added).
KNOWN = ("sgd", "adagrad", "rmsprop", "adam", "adamw", "nadam", "nadamw", "amsgrad", "adamax",
         "radam", "adabelief", "adadelta", "lion", "lamb", "lars", "adafactor",
         "sign_sgd", "signum", "rprop", "optimistic_gradient_descent", "optimistic_adam",
         "optimistic_adam_v2", "yogi", "sm3", "novograd", "adan", "adamaxw", "fromage",
         "noisy_sgd", "shampoo", "soap", "mars", "laprop", "kron")


def lookup(name):
  """The optimizer factory `name`, or None. A submodule of the same name (gradtx/lion.py
  is `gradtx.lion` until the function is re-exported) is not an optimizer."""
  for where in (gradtx, gradtx.optimizers):
    fn = getattr(where, name, None)
    if callable(fn) and not isinstance(fn, types.ModuleType):
      return fn
  return None


PRESENT = tuple(n for n in KNOWN if lookup(n) is not None)
MISSING = tuple(n for n in KNOWN if lookup(n) is None)

cos = gradtx.cosine_decay_schedule
_KEY = jax.random.key(0)  # noisy_sgd's noise: a fixed key, so each run is reproducible


def halve(lr0, every):
  """lr0 halved every `every` steps (continuously)."""
  return gradtx.exponential_decay(lr0, every, 0.5)


# label -> (optimizer name, builder(factory) -> transformation, steps).
# BOWL: |W - 5| <= 1e-2 after `steps`. The comment gives the first step from which
# the float32 run stayed within 1e-2 when these numbers were set (the same for the
# Rosenbrock table below).
BOWL_TOL = 1e-2
BOWL = {
    "sgd": ("sgd", lambda f: f(1.0), 40),                                           # 28
    "sgd_momentum": ("sgd", lambda f: f(0.5, momentum=0.5), 30),                    # 17
    "sgd_nesterov": ("sgd", lambda f: f(0.5, momentum=0.5, nesterov=True), 36),     # 24
    "adagrad": ("adagrad", lambda f: f(2.0), 30),                                   # 18
    "rmsprop": ("rmsprop", lambda f: f(0.1), 110),                                  # 73
    "adam": ("adam", lambda f: f(0.5), 160),                                        # 109
    "adamw": ("adamw", lambda f: f(0.5), 180),                                      # 118
    "nadam": ("nadam", lambda f: f(0.5), 130),                                      # 87
    "nadamw": ("nadamw", lambda f: f(0.5), 130),                                    # 88
    "amsgrad": ("amsgrad", lambda f: f(0.5), 160),                                  # 109
    "adamax": ("adamax", lambda f: f(0.5), 160),                                    # 107
    "radam": ("radam", lambda f: f(0.5), 180),                                      # 124
    "adabelief": ("adabelief", lambda f: f(0.5), 170),                              # 111
    "adadelta": ("adadelta", lambda f: f(1.0, eps=1e-3), 170),                      # 112
    "lion": ("lion", lambda f: f(halve(0.2, 40)), 300),                             # 167
    "lamb": ("lamb", lambda f: f(halve(0.2, 20)), 300),                             # 153
    "lars": ("lars", lambda f: f(halve(10.0, 40)), 300),                            # 154
    "adafactor": ("adafactor", lambda f: f(cos(0.1, 100)), 100),                    # 19
    "sign_sgd": ("sign_sgd", lambda f: f(halve(0.2, 40)), 250),                     # 174
    "signum": ("signum", lambda f: f(halve(0.2, 40)), 300),                         # 210
    "rprop": ("rprop", lambda f: f(0.1), 50),                                       # 33
    "optimistic_gradient_descent": ("optimistic_gradient_descent", lambda f: f(0.5), 100),  # 66
    "optimistic_adam": ("optimistic_adam", lambda f: f(0.5), 100),                  # 67
    "optimistic_adam_v2": ("optimistic_adam_v2", lambda f: f(0.5), 100),            # 67
    "yogi": ("yogi", lambda f: f(0.5), 160),                                        # 110
    "sm3": ("sm3", lambda f: f(0.5), 220),                                          # 151
    "novograd": ("novograd", lambda f: f(halve(0.2, 40)), 200),                     # 142
    "adan": ("adan", lambda f: f(0.1), 720),                                        # 513
    "adamaxw": ("adamaxw", lambda f: f(0.5), 160),                                  # 109
    "fromage": ("fromage", lambda f: f(halve(0.2, 40)), 380),                       # 266
    "noisy_sgd": ("noisy_sgd", lambda f: f(0.015, key=_KEY), 2800),                # 1991
    "shampoo": ("shampoo", lambda f: f(0.02), 160),                                 # 113
    "soap": ("soap", lambda f: f(0.02), 600),                                       # 416
    # on 0-d / 1-d params MARS runs its AdamW branch with lr_1d (3e-3), so `learning_rate`
    # does not enter these runs
    "mars": ("mars", lambda f: f(0.02), 1500),                                      # 1066
    "laprop": ("laprop", lambda f: f(0.5), 80),                                     # 51
    "kron": ("kron", lambda f: f(halve(0.2, 40)), 220),                             # 156
}

# ROSENBROCK: label -> (name, builder, steps, tolerance on the state).
ROSEN_A, ROSEN_B = 1.0, 10.0
ROSEN_START = (-1.0, 1.5)
ROSENBROCK = {
    "sgd": ("sgd", lambda f: f(0.015), 1200, 1e-2),                                 # 778
    "sgd_momentum": ("sgd", lambda f: f(0.005, momentum=0.9), 300, 1e-2),           # 89
    "sgd_nesterov": ("sgd", lambda f: f(0.005, momentum=0.9, nesterov=True), 300,
                     1e-2),                                                         # 146
    "adagrad": ("adagrad", lambda f: f(0.5), 1600, 1e-2),                           # 1033
    "rmsprop": ("rmsprop", lambda f: f(cos(0.01, 1500)), 1500, 1e-2),               # 618
    "adam": ("adam", lambda f: f(0.02), 1200, 1e-2),                                # 756
    "adamw": ("adamw", lambda f: f(0.02), 1200, 1e-2),                              # 760
    "nadam": ("nadam", lambda f: f(0.02), 1100, 1e-2),                              # 713
    "nadamw": ("nadamw", lambda f: f(0.02), 1100, 1e-2),                            # 716
    "amsgrad": ("amsgrad", lambda f: f(0.1), 2000, 1e-2),                           # 1292
    "adamax": ("adamax", lambda f: f(0.05), 2000, 1e-2),                            # 1275
    "radam": ("radam", lambda f: f(0.02), 2200, 1e-2),                              # 1485
    "adabelief": ("adabelief", lambda f: f(0.02), 1000, 1e-2),                      # 591
    "adadelta": ("adadelta", lambda f: f(cos(1.0, 3000)), 3000, 1e-2),              # 1478
    "lion": ("lion", lambda f: f(cos(0.02, 3000), weight_decay=0.0), 3000, 1e-2),   # 1950
    "lamb": ("lamb", lambda f: f(cos(0.01, 3000)), 3000, 1e-2),                     # 1837
    "lars": ("lars", lambda f: f(cos(1.0, 3000)), 3000, 1e-2),                      # 1255
    "adafactor": ("adafactor", lambda f: f(cos(0.02, 3000)), 3000, 1e-2),           # 1304
    "sign_sgd": ("sign_sgd", lambda f: f(halve(0.05, 300)), 3700, 1e-2),            # 2637
    "signum": ("signum", lambda f: f(halve(0.2, 40)), 350, 1e-2),                   # 244
    "rprop": ("rprop", lambda f: f(0.1), 380, 1e-2),                                # 267
    "optimistic_gradient_descent": ("optimistic_gradient_descent", lambda f: f(0.005), 3300,
                                    1e-2),                                          # 2348
    "optimistic_adam_v2": ("optimistic_adam_v2", lambda f: f(cos(0.05, 2000)), 1000,
                           1e-2),                                                   # 652
    "yogi": ("yogi", lambda f: f(0.5), 150, 1e-2),                                  # 105
    "sm3": ("sm3", lambda f: f(0.5), 900, 1e-2),                                    # 619
    "novograd": ("novograd", lambda f: f(halve(0.2, 40)), 230, 1e-2),               # 158
    "adan": ("adan", lambda f: f(0.1), 800, 1e-2),                                  # 568
    "adamaxw": ("adamaxw", lambda f: f(0.05), 1850, 1e-2),                          # 1294
    "fromage": ("fromage", lambda f: f(cos(0.02, 3000)), 3000, 1e-2),               # 1780
    "optimistic_adam": ("optimistic_adam", lambda f: f(0.02), 5600, 1e-2),          # 3970
    "noisy_sgd": ("noisy_sgd", lambda f: f(0.015, key=_KEY), 1200, 1e-2),          # 829
    "shampoo": ("shampoo", lambda f: f(halve(0.05, 300)), 480, 1e-2),               # 343
    "soap": ("soap", lambda f: f(0.02), 520, 1e-2),                                 # 369
    "mars": ("mars", lambda f: f(0.02), 1400, 1e-2),                                # 965
    "laprop": ("laprop", lambda f: f(cos(0.02, 1000)), 800, 1e-2),                  # 559
    "kron": ("kron", lambda f: f(halve(0.2, 40)), 260, 1e-2),                       # 185
}


def bowl(w):
  return 0.1 * (w - 5.0) ** 2


def rosenbrock(p):
  return (ROSEN_A - p[0]) ** 2 + ROSEN_B * (p[1] - p[0] ** 2) ** 2


@functools.partial(jax.jit, static_argnums=(0, 3))
def trajectory(loss, tx, w0, steps):
  """The iterates w_1 .. w_steps of `tx` on `loss`, in one jitted scan."""
  def body(carry, _):
    w, state = carry
    updates, state = tx.update(jax.grad(loss)(w), state, w)
    w = gradtx.apply_updates(w, updates)
    return (w, state), w
  _, ws = jax.lax.scan(body, (w0, tx.init(w0)), None, length=steps)
  return ws


def _labels(table):
  return [label for label, entry in table.items() if entry[0] in PRESENT]


def test_list_of_optimizers():
  """Every optimizer gradtx.optimizers exports has a config here, and every config's
  optimizer exists (the names gradtx lacks are listed, not silently skipped)."""
  print(f"\nconvergence tests run for: {', '.join(PRESENT)}")
  print(f"not in gradtx (no tests): {', '.join(MISSING) or 'none'}")
  exported = set(getattr(gradtx.optimizers, "__all__", ()))
  assert exported <= set(KNOWN), f"no convergence config for {sorted(exported - set(KNOWN))}"
  covered_bowl = {entry[0] for entry in BOWL.values()}
  covered_rosen = {entry[0] for entry in ROSENBROCK.values()}
  assert set(KNOWN) <= covered_bowl and set(KNOWN) <= covered_rosen
  for name in exported:
    assert lookup(name) is not None, name


@pytest.mark.parametrize("label", _labels(BOWL))
def test_bowl(label):
  name, build, steps = BOWL[label]
  tx = build(lookup(name))
  ws = np.asarray(trajectory(bowl, tx, jnp.asarray(10.0), steps))
  assert ws.shape == (steps,)
  assert np.all(np.isfinite(ws))
  assert abs(ws[-1] - 5.0) <= BOWL_TOL, (label, ws[-1])
  assert bowl(ws[-1]) < 1e-4 * bowl(10.0)


@pytest.mark.parametrize("label", _labels(ROSENBROCK))
def test_rosenbrock(label):
  name, build, steps, tol = ROSENBROCK[label]
  tx = build(lookup(name))
  ws = np.asarray(trajectory(rosenbrock, tx, jnp.asarray(ROSEN_START), steps))
  assert np.all(np.isfinite(ws))
  dist = np.linalg.norm(ws[-1] - np.array([ROSEN_A, ROSEN_A ** 2]))
  assert dist <= tol, (label, ws[-1], dist)


def test_sgd_bowl_against_closed_form():
  """On the bowl plain GD contracts W - 5 by (1 - 0.2 lr) per step: W_t = 5 + 5 (1 - 0.2 lr)^t."""
  lr, steps = 1.0, 40
  ws = np.asarray(trajectory(bowl, gradtx.sgd(lr), jnp.asarray(10.0), steps))
  t = np.arange(1, steps + 1)
  np.testing.assert_allclose(ws, 5 + 5 * (1 - 0.2 * lr) ** t, rtol=1e-5)
  assert np.argmax(np.abs(ws - 5) <= BOWL_TOL) + 1 == 28  # W_28 is the first within 1e-2
