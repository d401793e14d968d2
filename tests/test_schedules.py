"""Learning-rate schedules against closed-form NumPy formulas (float64, x64 mode).

A schedule is a function of the number of updates done, `count` (0 on the
first step). The sources count in epochs; `epoch_schedule` turns an epoch
schedule into one of the step count.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx


pytestmark = pytest.mark.usefixtures("x64")


COUNTS = np.arange(0, 121)


def values(schedule, counts=COUNTS, jit=False):
  """The schedule at every count (as an array); also checked called with Python ints."""
  fn = jax.jit(lambda s, c: s(c)) if jit else (lambda s, c: s(c))
  vectorised = np.asarray(fn(schedule, jnp.asarray(counts)))
  assert vectorised.shape == counts.shape
  sample = range(0, len(counts), 9)
  one_by_one = np.array([float(fn(schedule, int(counts[i]))) for i in sample])
  # Vectorised transcendental functions may differ from scalar ones in the last ulp.
  np.testing.assert_allclose(vectorised[list(sample)], one_by_one, rtol=1e-13, atol=1e-16)
  return vectorised


def close(got, want, rtol=1e-13, atol=1e-15):
  np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


# ----------------------------------------------------------------- inverse time


def test_inverse_time_decay_sources_numbers():
  s = gradtx.inverse_time_decay(0.2, 1.0)
  got = np.array([float(s(t)) for t in (1, 2, 3, 4)])
  np.testing.assert_allclose(got, [0.1, 0.0667, 0.05, 0.04], atol=1e-4)
  # Exactly lr0 / (1 + t), not the source's typos 0.67 and 0.5.
  np.testing.assert_allclose(got, [0.2 / (1 + t) for t in (1, 2, 3, 4)], rtol=1e-15, atol=0)
  assert float(s(0)) == 0.2


@pytest.mark.parametrize("lr0,rate,steps,staircase", [
    (0.2, 1.0, 1, False), (0.5, 0.3, 1, False), (1.0, 2.0, 10, False), (1.0, 2.0, 10, True)])
def test_inverse_time_decay_closed_form(lr0, rate, steps, staircase):
  p = COUNTS / steps
  if staircase:
    p = np.floor(p)
  close(values(gradtx.inverse_time_decay(lr0, rate, steps, staircase)), lr0 / (1 + rate * p))


def test_inverse_time_decay_per_epoch():
  """lr = lr0 / (1 + decay_rate * epoch), the epoch = floor(t / steps_per_epoch)."""
  spe = 7
  s = gradtx.epoch_schedule(gradtx.inverse_time_decay(0.2, 1.0), spe)
  epoch = np.floor(COUNTS / spe)
  close(values(s), 0.2 / (1 + epoch))
  # Counting epochs from 1, as the sources do: the first epoch uses 0.1.
  s1 = gradtx.epoch_schedule(gradtx.inverse_time_decay(0.2, 1.0), spe, first_epoch=1)
  got = values(s1)
  close(got, 0.2 / (1 + epoch + 1))
  np.testing.assert_allclose(got[[0, spe, 2 * spe, 3 * spe]], [0.1, 0.0667, 0.05, 0.04],
                             atol=1e-4)


# ------------------------------------------------------------------ exponential


def test_exponential_decay_per_epoch():
  """lr = 0.95^epoch * lr0."""
  lr0, spe = 0.1, 5
  s = gradtx.epoch_schedule(gradtx.exponential_decay(lr0, 1, 0.95), spe)
  close(values(s), 0.95 ** np.floor(COUNTS / spe) * lr0)


@pytest.mark.parametrize("lr0,k,rate,begin", [(0.1, 1, 0.95, 0), (1.0, 10, 0.5, 0),
                                              (0.3, 4, 0.9, 5)])
def test_exponential_decay_continuous(lr0, k, rate, begin):
  s = gradtx.exponential_decay(lr0, k, rate, transition_begin=begin)
  t = COUNTS - begin
  close(values(s), np.where(t <= 0, lr0, lr0 * rate ** (t / k)))


@pytest.mark.parametrize("k", [1, 3, 10])
def test_exponential_decay_staircase(k):
  """Staircase (piecewise constant) form: drop by `rate` every k steps."""
  lr0, rate = 0.5, 0.5
  got = values(gradtx.exponential_decay(lr0, k, rate, staircase=True))
  close(got, lr0 * rate ** np.floor(COUNTS / k))
  # Constant within each block of k.
  for start in range(0, 100, k):
    assert len(set(got[start:start + k])) == 1


def test_exponential_decay_staircase_per_epoch():
  """Drop the rate by half every 3 epochs, 4 steps per epoch."""
  s = gradtx.epoch_schedule(gradtx.exponential_decay(1.0, 3, 0.5, staircase=True), 4)
  close(values(s), 0.5 ** np.floor(np.floor(COUNTS / 4) / 3))


def test_exponential_decay_end_value():
  s = gradtx.exponential_decay(1.0, 1, 0.9, end_value=0.2)
  close(values(s), np.maximum(0.9 ** COUNTS, 0.2))
  s_up = gradtx.exponential_decay(0.1, 10, 1.5, end_value=0.5)
  close(values(s_up), np.minimum(0.1 * 1.5 ** (COUNTS / 10), 0.5))


# ---------------------------------------------------------------- inverse sqrt


@pytest.mark.parametrize("lr0,k", [(0.1, 1.0), (1.0, 0.5), (0.3, 2.0)])
def test_inverse_sqrt_decay_per_step(lr0, k):
  """lr = k / sqrt(t) * lr0, t = 1, 2, ... the mini-batch step (count + 1)."""
  t = COUNTS + 1
  close(values(gradtx.inverse_sqrt_decay(lr0, k)), k / np.sqrt(t) * lr0)


@pytest.mark.parametrize("spe", [1, 6])
def test_inverse_sqrt_decay_per_epoch(spe):
  """lr = k / sqrt(epoch) * lr0, epochs counted from 1."""
  lr0, k = 0.2, 0.8
  s = gradtx.epoch_schedule(gradtx.inverse_sqrt_decay(lr0, k), spe)
  epoch = np.floor(COUNTS / spe) + 1
  close(values(s), k / np.sqrt(epoch) * lr0)


# ------------------------------------------------------------ piecewise constant


def test_piecewise_constant_manual_drops():
  s = gradtx.piecewise_constant_schedule(0.1, {30: 0.1, 10: 0.5, 80: 0.2})
  want = np.where(COUNTS < 10, 0.1, np.where(COUNTS < 30, 0.05,
                                             np.where(COUNTS < 80, 0.005, 0.001)))
  close(values(s), want)


def test_piecewise_constant_no_boundaries():
  close(values(gradtx.piecewise_constant_schedule(0.3)), np.full(COUNTS.shape, 0.3))
  close(values(gradtx.constant_schedule(0.3)), np.full(COUNTS.shape, 0.3))


# ---------------------------------------------------------------- epoch schedule


@pytest.mark.parametrize("spe,first", [(1, 0), (10, 0), (13, 2)])
def test_epoch_schedule_gives_per_epoch_values(spe, first):
  epoch_fn = lambda e: 1.0 / (1.0 + e) ** 2  # noqa: E731  (any callable of the epoch)
  got = values(gradtx.epoch_schedule(epoch_fn, spe, first))
  epoch = np.floor(COUNTS / spe) + first
  close(got, 1.0 / (1.0 + epoch) ** 2)
  # One value per epoch: constant on each block of spe steps.
  for start in range(0, 100, spe):
    assert len(set(got[start:start + spe])) == 1


# ---------------------------------------------------- linear, polynomial, cosine


@pytest.mark.parametrize("init,end,steps,begin", [(1.0, 0.0, 50, 0), (0.0, 0.3, 20, 10),
                                                  (0.5, 0.1, 100, 7)])
def test_linear_schedule(init, end, steps, begin):
  s = np.clip(COUNTS - begin, 0, steps)
  close(values(gradtx.linear_schedule(init, end, steps, begin)),
        init + (end - init) * s / steps)


@pytest.mark.parametrize("init,end,power,steps,begin", [(1.0, 0.01, 2.0, 60, 0),
                                                        (0.5, 0.0, 0.5, 40, 15),
                                                        (0.1, 0.2, 3.0, 100, 0)])
def test_polynomial_schedule(init, end, power, steps, begin):
  s = np.clip(COUNTS - begin, 0, steps)
  close(values(gradtx.polynomial_schedule(init, end, power, steps, begin)),
        (init - end) * (1 - s / steps) ** power + end)


@pytest.mark.parametrize("init,steps,alpha,exponent", [(1.0, 100, 0.0, 1.0), (0.3, 50, 0.1, 1.0),
                                                       (0.5, 80, 0.0, 2.0)])
def test_cosine_decay(init, steps, alpha, exponent):
  s = np.minimum(COUNTS, steps)
  cos = 0.5 * (1 + np.cos(np.pi * s / steps))
  close(values(gradtx.cosine_decay_schedule(init, steps, alpha, exponent)),
        init * ((1 - alpha) * cos ** exponent + alpha))


@pytest.mark.parametrize("init,peak,warmup,decay,end", [(0.0, 1.0, 10, 100, 0.0),
                                                        (0.01, 0.5, 25, 90, 0.05)])
def test_warmup_cosine_decay(init, peak, warmup, decay, end):
  """Linear warm-up over `warmup` steps, then cosine from peak to end; `decay` includes it."""
  t = COUNTS
  warm = init + (peak - init) * t / warmup
  s = np.clip(t - warmup, 0, decay - warmup)
  cos = end + (peak - end) * 0.5 * (1 + np.cos(np.pi * s / (decay - warmup)))
  want = np.where(t < warmup, warm, cos)
  got = values(gradtx.warmup_cosine_decay_schedule(init, peak, warmup, decay, end))
  close(got, want, atol=1e-14)
  assert got[warmup] == pytest.approx(peak)
  assert got[-1] == pytest.approx(end)


@pytest.mark.parametrize("peak", [0.0, jnp.asarray(0.0)])
def test_warmup_cosine_decay_zero_peak(peak):
  """peak 0 (as Optax: alpha = 0 then): warm-up from init to 0, then 0, not a
  ZeroDivisionError or NaN."""
  got = values(gradtx.warmup_cosine_decay_schedule(0.1, peak, 5, 20, 0.0))
  close(got, np.where(COUNTS < 5, 0.1 - 0.1 * COUNTS / 5, 0.0))


def test_polynomial_zero_transition_steps_is_constant():
  close(values(gradtx.polynomial_schedule(0.3, 0.1, 2.0, 0)), np.full(COUNTS.shape, 0.3))


def test_join_schedules():
  """schedules[i](t - boundaries[i-1]) on [boundaries[i-1], boundaries[i])."""
  s = gradtx.join_schedules(
      [gradtx.constant_schedule(0.5), gradtx.linear_schedule(1.0, 0.0, 40),
       gradtx.exponential_decay(0.2, 1, 0.9)], [20, 50])
  t = COUNTS
  want = np.where(t < 20, 0.5,
                  np.where(t < 50, 1.0 - np.clip(t - 20, 0, 40) / 40, 0.2 * 0.9 ** (t - 50)))
  close(values(s), want)


def test_schedules_under_jit():
  s = gradtx.warmup_cosine_decay_schedule(0.0, 1.0, 10, 100)
  close(values(s, jit=True), values(s))
  s2 = gradtx.epoch_schedule(gradtx.inverse_time_decay(0.2, 1.0), 3)
  close(values(s2, jit=True), 0.2 / (1 + np.floor(COUNTS / 3)))


def test_schedule_parameters_are_traceable():
  """Numeric schedule parameters are leaves: vmap over the decay rate."""
  rates = jnp.asarray([0.5, 1.0, 2.0])
  fn = jax.vmap(lambda r: gradtx.inverse_time_decay(0.2, r)(3))
  close(np.asarray(fn(rates)), 0.2 / (1 + np.array([0.5, 1.0, 2.0]) * 3))


# ----------------------------------------------------- schedules as learning rates

A = np.array([1.0, 2.0, 0.5])
C = np.array([1.0, -2.0, 3.0])
W0 = np.array([4.0, 3.0, -2.0])


def grad_np(w):
  return A * (w - C) + 0.3 * np.cos(w)


def _run(tx, steps):
  @jax.jit
  def step(tx, w, state):
    g = A * (w - C) + 0.3 * jnp.cos(w)
    u, state = tx.update(g, state, w)
    return gradtx.apply_updates(w, u), state
  w = jnp.asarray(W0)
  state = tx.init(w)
  traj = []
  for _ in range(steps):
    w, state = step(tx, w, state)
    traj.append(np.asarray(w))
  return np.stack(traj)


SCHEDULES = {
    "inverse_time": (lambda: gradtx.inverse_time_decay(0.2, 1.0),
                     lambda c: 0.2 / (1 + c)),
    "exponential_epoch": (lambda: gradtx.epoch_schedule(gradtx.exponential_decay(0.3, 1, 0.95), 5),
                          lambda c: 0.3 * 0.95 ** (c // 5)),
    "inverse_sqrt": (lambda: gradtx.inverse_sqrt_decay(0.3, 1.0),
                     lambda c: 0.3 / math.sqrt(c + 1)),
    "piecewise": (lambda: gradtx.piecewise_constant_schedule(0.3, {10: 0.5, 30: 0.1}),
                  lambda c: 0.3 * (0.5 if c >= 10 else 1) * (0.1 if c >= 30 else 1)),
    "warmup_cosine": (lambda: gradtx.warmup_cosine_decay_schedule(0.0, 0.3, 10, 50),
                      lambda c: 0.03 * c if c < 10 else
                      0.15 * (1 + math.cos(math.pi * min(c - 10, 40) / 40))),
    "python_lambda": (lambda: (lambda count: 0.2 / (1.0 + 0.1 * count)),
                      lambda c: 0.2 / (1.0 + 0.1 * c)),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_as_sgd_learning_rate(name):
  """Step t (1-based) uses lr(t - 1): w <- w - lr(t - 1) g_t."""
  make, lr = SCHEDULES[name]
  steps = 60
  w, want = W0.copy(), []
  for c in range(steps):
    w = w - lr(c) * grad_np(w)
    want.append(w)
  np.testing.assert_allclose(_run(gradtx.sgd(make()), steps), np.stack(want),
                             rtol=1e-10, atol=1e-12)


def test_schedule_as_momentum_and_adam_learning_rate():
  steps, mu = 60, 0.9
  lr = SCHEDULES["inverse_time"][1]
  w, v, want = W0.copy(), np.zeros(3), []
  for c in range(steps):
    v = grad_np(w) + mu * v
    w = w - lr(c) * v
    want.append(w)
  np.testing.assert_allclose(_run(gradtx.sgd(gradtx.inverse_time_decay(0.2, 1.0), mu), steps),
                             np.stack(want), rtol=1e-10, atol=1e-12)

  b1, b2, eps = 0.9, 0.999, 1e-8
  lr = SCHEDULES["warmup_cosine"][1]
  w, m, v, want = W0.copy(), 0.0, 0.0, []
  for t in range(1, steps + 1):
    g = grad_np(w)
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g ** 2
    w = w - lr(t - 1) * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    want.append(w)
  got = _run(gradtx.adam(gradtx.warmup_cosine_decay_schedule(0.0, 0.3, 10, 50)), steps)
  np.testing.assert_allclose(got, np.stack(want), rtol=1e-10, atol=1e-12)
  np.testing.assert_array_equal(got[0], W0)  # warm-up starts at 0


def test_schedule_change_does_not_recompile():
  """A schedule's numbers are leaves: a new rate reuses the compiled step."""
  traces = []

  @jax.jit
  def step(tx, w, state):
    traces.append(1)
    u, state = tx.update(w, state, w)
    return gradtx.apply_updates(w, u), state

  w = jnp.asarray(W0)
  for lr0 in (0.1, 0.2, 0.3):
    tx = gradtx.sgd(gradtx.inverse_time_decay(lr0, 1.0))
    step(tx, w, tx.init(w))
  assert len(traces) == 1
