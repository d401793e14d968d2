"""gradtx against the update rules of /work/shared/REFERENCE.md, written out in NumPy.

Every reference below is an independent float64 NumPy loop of the formula as the
sources state it; gradtx runs in x64 mode on float64 params and must follow the
same trajectory step by step for STEPS steps. Gradients come from a known
function (`grad_np`), evaluated in NumPy on gradtx's current iterate, so the
only thing compared is the optimizer's arithmetic.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx

STEPS = 60
RTOL, ATOL = 1e-10, 1e-12

# A small vector problem: f(w) = sum(A/2 (w - C)^2 + 0.3 sin(w)).
A = np.array([1.0, 2.0, 0.5, 3.0, 1.5])
C = np.array([1.0, -2.0, 3.0, 0.5, -1.0])
W0 = np.array([4.0, 3.0, -2.0, 2.0, 1.0])


def grad_np(w):
  return A * (w - C) + 0.3 * np.cos(w)


pytestmark = pytest.mark.usefixtures("x64")


@jax.jit
def _step(tx, params, state, grads):
  updates, state = tx.update(grads, state, params)
  return gradtx.apply_updates(params, updates), state


def run_gradtx(tx, grad=grad_np, w0=W0, steps=STEPS):
  """gradtx's iterates w_1 .. w_steps (w_0 excluded) and its final state."""
  w = jnp.asarray(w0, jnp.float64)
  state = tx.init(w)
  traj = []
  for _ in range(steps):
    g = jnp.asarray(grad(np.asarray(w)), jnp.float64)
    w, state = _step(tx, w, state, g)
    assert w.dtype == jnp.float64
    traj.append(np.asarray(w))
  return np.stack(traj), state


def check_traj(got, want):
  np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
  # The problem must actually move the iterates (guards against a no-op).
  assert np.max(np.abs(want[-1] - W0)) > 1e-2


# --------------------------------------------------------------------------- GD


@pytest.mark.parametrize("lr", [0.01, 0.1, 0.3])
def test_plain_gradient_descent(lr):
  w, want = W0.copy(), []
  for _ in range(STEPS):
    w = w - lr * grad_np(w)
    want.append(w)
  check_traj(run_gradtx(gradtx.sgd(lr))[0], np.stack(want))
  check_traj(run_gradtx(gradtx.scale_by_learning_rate(lr))[0], np.stack(want))
  check_traj(run_gradtx(gradtx.scale(-lr))[0], np.stack(want))


# --------------------------------------------------------------------- momentum


def _heavy_ball_dw(lr, mu):
  """dw_t = -lr g_t + mu dw_{t-1}; w <- w + dw_t."""
  w, dw, traj, dws = W0.copy(), np.zeros_like(W0), [], []
  for _ in range(STEPS):
    dw = -lr * grad_np(w) + mu * dw
    w = w + dw
    traj.append(w)
    dws.append(dw)
  return np.stack(traj), np.stack(dws)


def _heavy_ball_v(lr, mu):
  """v_t = g_t + mu v_{t-1}; w <- w - lr v_t."""
  w, v, traj = W0.copy(), np.zeros_like(W0), []
  for _ in range(STEPS):
    v = grad_np(w) + mu * v
    w = w - lr * v
    traj.append(w)
  return np.stack(traj), v


@pytest.mark.parametrize("lr,mu", [(0.05, 0.9), (0.1, 0.5), (0.02, 0.99)])
def test_heavy_ball_momentum_both_forms(lr, mu):
  want_dw, dws = _heavy_ball_dw(lr, mu)
  want_v, v_last = _heavy_ball_v(lr, mu)
  # The two forms in the sources are the same rule (dw = -lr v).
  np.testing.assert_allclose(want_dw, want_v, rtol=1e-12, atol=1e-12)
  got, state = run_gradtx(gradtx.sgd(lr, momentum=mu))
  check_traj(got, want_dw)
  check_traj(got, want_v)
  # The stored velocity is v_t of the v form, i.e. -dw_t / lr.
  np.testing.assert_allclose(np.asarray(state[0].trace), v_last, rtol=RTOL, atol=ATOL)
  np.testing.assert_allclose(np.asarray(state[0].trace), -dws[-1] / lr, rtol=1e-9, atol=ATOL)
  # The primitives: trace followed by a scale by -lr.
  check_traj(run_gradtx(gradtx.chain(gradtx.trace(mu), gradtx.scale(-lr)))[0], want_v)
  check_traj(run_gradtx(gradtx.chain(gradtx.trace(decay=mu, nesterov=False),
                                     gradtx.scale_by_learning_rate(lr)))[0], want_v)


@pytest.mark.parametrize("debias", [False, True])
@pytest.mark.parametrize("b,lr", [(0.9, 0.05), (0.5, 0.1), (0.999, 0.5)])
def test_ema_momentum(b, lr, debias):
  """m_t = b m_{t-1} + (1 - b) g_t; w <- w - lr m_t (or m_t / (1 - b^t))."""
  w, m, want = W0.copy(), np.zeros_like(W0), []
  for t in range(1, STEPS + 1):
    m = b * m + (1 - b) * grad_np(w)
    m_used = m / (1 - b ** t) if debias else m
    w = w - lr * m_used
    want.append(w)
  tx = gradtx.chain(gradtx.ema(b, debias=debias), gradtx.scale_by_learning_rate(lr))
  got, state = run_gradtx(tx)
  np.testing.assert_allclose(got, np.stack(want), rtol=RTOL, atol=ATOL)
  assert np.max(np.abs(got[-1] - W0)) > 1e-3
  np.testing.assert_allclose(np.asarray(state[0].ema), m, rtol=RTOL, atol=ATOL)
  assert int(state[0].count) == STEPS


def test_ema_debias_differs_from_plain():
  plain = run_gradtx(gradtx.chain(gradtx.ema(0.9, debias=False), gradtx.scale(-0.05)))[0]
  debiased = run_gradtx(gradtx.chain(gradtx.ema(0.9, debias=True), gradtx.scale(-0.05)))[0]
  assert np.max(np.abs(plain[0] - debiased[0])) > 1e-3


# --------------------------------------------------------------------- Nesterov


@pytest.mark.parametrize("lr,mu", [(0.05, 0.9), (0.1, 0.5), (0.02, 0.95)])
def test_nesterov_iterates_are_lookahead_points(lr, mu):
  """The look-ahead rule written out directly:

  y_t = w_t + mu dw_{t-1}                 (move by the old momentum)
  dw_t = -lr grad(y_t) + mu dw_{t-1}      (gradient at the look-ahead point)
  w_{t+1} = w_t + dw_t

  gradtx.sgd(lr, mu, nesterov=True) only ever sees the gradient it is handed,
  evaluated at its own iterate; its iterates must be the points y_t.
  """
  w, dw, lookahead = W0.copy(), np.zeros_like(W0), []
  for _ in range(STEPS + 1):
    y = w + mu * dw
    lookahead.append(y)
    dw = -lr * grad_np(y) + mu * dw
    w = w + dw
  lookahead = np.stack(lookahead)
  # y_1 = w_1 (no momentum yet) is gradtx's starting point.
  np.testing.assert_array_equal(lookahead[0], W0)
  got, _ = run_gradtx(gradtx.sgd(lr, momentum=mu, nesterov=True))
  check_traj(got, lookahead[1:])
  got2, _ = run_gradtx(gradtx.chain(gradtx.trace(mu, nesterov=True), gradtx.scale(-lr)))
  check_traj(got2, lookahead[1:])
  # Nesterov is not heavy ball.
  heavy, _ = _heavy_ball_v(lr, mu)
  assert np.max(np.abs(heavy - lookahead[1:])) > 1e-4


# ---------------------------------------------------------------------- AdaGrad


def _adagrad_ref(lr, g0, eps, eps_in_sqrt):
  w, G, want, rates = W0.copy(), np.full_like(W0, g0), [], []
  for _ in range(STEPS):
    g = grad_np(w)
    G = G + g ** 2
    rate = lr / np.sqrt(G + eps) if eps_in_sqrt else lr / (np.sqrt(G) + eps)
    w = w - rate * g
    want.append(w)
    rates.append(rate)
  return np.stack(want), G, np.stack(rates)


@pytest.mark.parametrize("lr,g0,eps", [(0.5, 0.0, 1e-7), (0.5, 0.1, 1e-7), (1.0, 0.0, 0.5),
                                       (0.3, 0.1, 0.2)])
def test_adagrad_eps_inside_root(lr, g0, eps):
  """G_t = G_{t-1} + g_t^2; w <- w - lr g_t / sqrt(G_t + eps)."""
  want, G, rates = _adagrad_ref(lr, g0, eps, True)
  got, state = run_gradtx(gradtx.adagrad(lr, initial_accumulator_value=g0, eps=eps))
  check_traj(got, want)
  np.testing.assert_allclose(np.asarray(state[0].sum_of_squares), G, rtol=RTOL)
  got2, _ = run_gradtx(gradtx.chain(gradtx.scale_by_rss(g0, eps),
                                    gradtx.scale_by_learning_rate(lr)))
  check_traj(got2, want)
  # The effective step lr / sqrt(G + eps) only ever decreases.
  assert np.all(np.diff(rates, axis=0) <= 0)


@pytest.mark.parametrize("lr,eps", [(0.5, 1e-7), (1.0, 0.5), (0.3, 1e-3)])
def test_adagrad_eps_outside_root(lr, eps):
  """G_0 = 0; w <- w - lr g_t / (sqrt(G_t) + eps)."""
  want, G, rates = _adagrad_ref(lr, 0.0, eps, False)
  tx = gradtx.chain(gradtx.scale_by_rss(0.0, eps, eps_in_sqrt=False),
                    gradtx.scale_by_learning_rate(lr))
  got, state = run_gradtx(tx)
  check_traj(got, want)
  np.testing.assert_allclose(np.asarray(state[0].sum_of_squares), G, rtol=RTOL)
  got2, _ = run_gradtx(gradtx.adagrad(lr, 0.0, eps, eps_in_sqrt=False))
  check_traj(got2, want)
  assert np.all(np.diff(rates, axis=0) <= 0)
  if eps >= 1e-3:  # the placement matters: the inside-the-root form differs
    inside, _, _ = _adagrad_ref(lr, 0.0, eps, True)
    assert np.max(np.abs(inside - want)) > 1e-4


def test_adagrad_accumulator_never_decreases():
  tx = gradtx.adagrad(0.5, 0.0, 1e-7)
  w = jnp.asarray(W0)
  state = tx.init(w)
  previous = np.asarray(state[0].sum_of_squares)
  for _ in range(20):
    w, state = _step(tx, w, state, jnp.asarray(grad_np(np.asarray(w))))
    current = np.asarray(state[0].sum_of_squares)
    assert np.all(current >= previous)
    previous = current


# ---------------------------------------------------------------------- RMSProp


def _rmsprop_ref(lr, b, eps, eps_in_sqrt):
  w, S, want = W0.copy(), np.zeros_like(W0), []
  for _ in range(STEPS):
    g = grad_np(w)
    S = b * S + (1 - b) * g ** 2
    w = w - (lr * g / np.sqrt(S + eps) if eps_in_sqrt else lr * g / (np.sqrt(S) + eps))
    want.append(w)
  return np.stack(want), S


@pytest.mark.parametrize("eps_in_sqrt", [False, True])
@pytest.mark.parametrize("lr,b,eps", [(0.01, 0.9, 1e-8), (0.05, 0.99, 1e-6), (0.1, 0.9, 0.3)])
def test_rmsprop_both_eps_placements(lr, b, eps, eps_in_sqrt):
  """S_t = b S_{t-1} + (1 - b) g_t^2; w <- w - lr g_t / (sqrt(S_t) + eps)
  (eps_in_sqrt=False) or / sqrt(S_t + eps) (eps_in_sqrt=True)."""
  want, S = _rmsprop_ref(lr, b, eps, eps_in_sqrt)
  got, state = run_gradtx(gradtx.rmsprop(lr, decay=b, eps=eps, eps_in_sqrt=eps_in_sqrt))
  check_traj(got, want)
  np.testing.assert_allclose(np.asarray(state[0].nu), S, rtol=RTOL)
  got2, _ = run_gradtx(gradtx.chain(gradtx.scale_by_rms(b, eps, eps_in_sqrt=eps_in_sqrt),
                                    gradtx.scale_by_learning_rate(lr)))
  check_traj(got2, want)
  if eps >= 0.1:
    other, _ = _rmsprop_ref(lr, b, eps, not eps_in_sqrt)
    assert np.max(np.abs(other - want)) > 1e-4


def test_centered_rmsprop():
  """Centered: M = b M + (1-b) g; S = b S + (1-b) g^2; w <- w - lr g / sqrt(S - M^2 + eps)."""
  lr, b, eps = 0.01, 0.9, 1e-6
  w, M, S, want = W0.copy(), np.zeros_like(W0), np.zeros_like(W0), []
  for _ in range(STEPS):
    g = grad_np(w)
    M = b * M + (1 - b) * g
    S = b * S + (1 - b) * g ** 2
    w = w - lr * g / np.sqrt(S - M ** 2 + eps)
    want.append(w)
  check_traj(run_gradtx(gradtx.rmsprop(lr, decay=b, eps=eps, centered=True))[0],
             np.stack(want))


def test_centered_rmsprop_steady_gradient_in_float32():
  """With a steady gradient S - M^2 -> 0, and float32 rounding can take it to 0 or below:
  the update must still be -lr g / sqrt(max(S - M^2, 0) + eps), never 0 (nor NaN)."""
  lr, b, eps = 0.01, 0.9, 1e-8
  g = np.array([1.0, 0.5, 2.0, 0.25, 0.1, 3.0, 1e-3, 0.3], np.float32)
  for jit, steps in ((False, 150), (True, 300)):
    tx = gradtx.rmsprop(lr, decay=b, eps=eps, centered=True)
    w = jnp.zeros(g.size, jnp.float32)
    state = tx.init(w)
    update = jax.jit(tx.update) if jit else tx.update
    for _ in range(steps):
      u, state = update(jnp.asarray(g), state, w)
      u = np.asarray(u)
      assert u.dtype == np.float32 and np.all(np.isfinite(u))
      assert np.all(np.sign(u) == -np.sign(g))
      # |u| >= lr |g| / sqrt(S + eps) (the variance is at most S), and <= lr |g| / sqrt(eps).
      s = np.asarray(state[0].nu, np.float64)
      assert np.all(np.abs(u) >= 0.999 * lr * g / np.sqrt(s + eps))
      assert np.all(np.abs(u) <= 1.001 * lr * g / np.sqrt(eps))


# ------------------------------------------------------------------------- Adam


def _adam_direction_ref(b1, b2, eps):
  """Yields the Adam direction m_hat / (sqrt(v_hat) + eps) for the gradients sent in."""
  m = v = 0.0
  t = 0
  direction = None
  while True:
    g = yield direction
    t += 1
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g ** 2
    m_hat = m / (1 - b1 ** t)
    v_hat = v / (1 - b2 ** t)
    direction = m_hat / (np.sqrt(v_hat) + eps)


def _adam_ref(lr, b1, b2, eps, wd=0.0):
  gen = _adam_direction_ref(b1, b2, eps)
  next(gen)
  w, want = W0.copy(), []
  for _ in range(STEPS):
    d = gen.send(grad_np(w))
    w = w - lr * (d + wd * w)
    want.append(w)
  return np.stack(want)


@pytest.mark.parametrize("lr,b1,b2,eps", [
    (0.05, 0.9, 0.999, 1e-8),   # Kingma & Ba defaults
    (0.05, 0.9, 0.99, 1e-8),    # the source with b2 = 0.99
    (0.1, 0.8, 0.95, 1e-3),
])
def test_adam_with_bias_correction(lr, b1, b2, eps):
  """m_t = b1 m + (1 - b1) g; v_t = b2 v + (1 - b2) g^2; m_hat = m_t / (1 - b1^t);
  v_hat = v_t / (1 - b2^t); w <- w - lr m_hat / (sqrt(v_hat) + eps)."""
  want = _adam_ref(lr, b1, b2, eps)
  check_traj(run_gradtx(gradtx.adam(lr, b1=b1, b2=b2, eps=eps))[0], want)
  check_traj(run_gradtx(gradtx.chain(gradtx.scale_by_adam(b1, b2, eps),
                                     gradtx.scale(-lr)))[0], want)


def test_adam_defaults_are_the_reference_defaults():
  want = _adam_ref(0.05, 0.9, 0.999, 1e-8)
  check_traj(run_gradtx(gradtx.adam(0.05))[0], want)


def test_adam_first_step_is_lr_times_sign():
  """With bias correction the first step is lr * g / (|g| + eps): about lr, whatever |g|."""
  lr = 0.05
  got, _ = run_gradtx(gradtx.adam(lr), steps=1)
  g = grad_np(W0)
  np.testing.assert_allclose(got[0], W0 - lr * g / (np.abs(g) + 1e-8), rtol=1e-12)


def test_amsgrad():
  lr, b1, b2, eps = 0.05, 0.9, 0.99, 1e-8
  w, m, v, vmax, want = W0.copy(), 0.0, 0.0, np.zeros_like(W0), []
  for t in range(1, STEPS + 1):
    g = grad_np(w)
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g ** 2
    vmax = np.maximum(vmax, v / (1 - b2 ** t))
    w = w - lr * (m / (1 - b1 ** t)) / (np.sqrt(vmax) + eps)
    want.append(w)
  check_traj(run_gradtx(gradtx.amsgrad(lr, b1, b2, eps))[0], np.stack(want))


def test_adamax():
  lr, b1, b2, eps = 0.05, 0.9, 0.999, 1e-8
  w, m, u, want = W0.copy(), 0.0, np.zeros_like(W0), []
  for t in range(1, STEPS + 1):
    g = grad_np(w)
    m = b1 * m + (1 - b1) * g
    u = np.maximum(b2 * u, np.abs(g) + eps)
    w = w - lr * m / (1 - b1 ** t) / u
    want.append(w)
  check_traj(run_gradtx(gradtx.adamax(lr, b1, b2, eps))[0], np.stack(want))


def test_nadam():
  """NAdam (Dozat): m_hat = b1 m_t / (1 - b1^(t+1)) + (1 - b1) g_t / (1 - b1^t)."""
  lr, b1, b2, eps = 0.05, 0.9, 0.999, 1e-8
  w, m, v, want = W0.copy(), 0.0, 0.0, []
  for t in range(1, STEPS + 1):
    g = grad_np(w)
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g ** 2
    m_hat = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1 ** t)
    w = w - lr * m_hat / (np.sqrt(v / (1 - b2 ** t)) + eps)
    want.append(w)
  check_traj(run_gradtx(gradtx.nadam(lr, b1, b2, eps))[0], np.stack(want))


# ----------------------------------------------------------------- weight decay


@pytest.mark.parametrize("lr,lam", [(0.1, 0.01), (0.05, 0.02), (0.2, 0.001)])
def test_coupled_weight_decay(lr, lam):
  """L2 regularisation: w <- w - lr g - lam w."""
  w, want = W0.copy(), []
  for _ in range(STEPS):
    w = w - lr * grad_np(w) - lam * w
    want.append(w)
  want = np.stack(want)
  tx = gradtx.chain(gradtx.add_decayed_weights(lam / lr), gradtx.sgd(lr))
  check_traj(run_gradtx(tx)[0], want)
  # The same rule from the loss: adding lam / (2 lr) ||w||^2 adds (lam / lr) w to g.
  check_traj(run_gradtx(gradtx.sgd(lr), grad=lambda w: grad_np(w) + lam / lr * w)[0], want)


@pytest.mark.parametrize("lr,lam,m", [(0.1, 0.5, 64), (0.05, 2.0, 128), (0.1, 1.0, 256)])
def test_coupled_weight_decay_lam_over_m_form(lr, lam, m):
  """The other source's form: w <- w - (lam / m) w - lr g."""
  w, want = W0.copy(), []
  for _ in range(STEPS):
    w = w - (lam / m) * w - lr * grad_np(w)
    want.append(w)
  tx = gradtx.chain(gradtx.add_decayed_weights(lam / m / lr), gradtx.sgd(lr))
  check_traj(run_gradtx(tx)[0], np.stack(want))


def test_weight_decay_actually_decays():
  """With a zero gradient coupled decay shrinks w geometrically: w_t = (1 - lam)^t w_0."""
  lr, lam = 0.1, 0.05
  tx = gradtx.chain(gradtx.add_decayed_weights(lam / lr), gradtx.sgd(lr))
  got, _ = run_gradtx(tx, grad=lambda w: np.zeros_like(w))
  t = np.arange(1, STEPS + 1)[:, None]
  np.testing.assert_allclose(got, (1 - lam) ** t * W0[None], rtol=1e-11)


def test_weight_decay_schedule():
  """A scheduled rate uses wd(t - 1) on step t (count 0 first)."""
  lr = 0.1
  sched = lambda count: 0.1 / (1.0 + count)  # noqa: E731
  w, want = W0.copy(), []
  for t in range(1, STEPS + 1):
    w = w - lr * (grad_np(w) + sched(t - 1) * w)
    want.append(w)
  tx = gradtx.chain(gradtx.add_decayed_weights(gradtx.inverse_time_decay(0.1, 1.0)),
                    gradtx.sgd(lr))
  check_traj(run_gradtx(tx)[0], np.stack(want))


@pytest.mark.parametrize("lr,wd,b2", [(0.05, 0.1, 0.999), (0.05, 1e-4, 0.999), (0.02, 0.5, 0.99)])
def test_adamw_decoupled(lr, wd, b2):
  """Decoupled (AdamW): w <- w - lr (adam_direction + wd w)."""
  want = _adam_ref(lr, 0.9, b2, 1e-8, wd=wd)
  check_traj(run_gradtx(gradtx.adamw(lr, b2=b2, weight_decay=wd))[0], want)
  tx = gradtx.chain(gradtx.scale_by_adam(b2=b2), gradtx.add_decayed_weights(wd),
                    gradtx.scale_by_learning_rate(lr))
  check_traj(run_gradtx(tx)[0], want)
  if wd >= 0.1:  # decoupled decay is not Adam on the L2-regularised loss
    coupled = run_gradtx(gradtx.adam(lr, b2=b2), grad=lambda w: grad_np(w) + wd * w)[0]
    assert np.max(np.abs(coupled - want)) > 1e-4


def test_adamw_default_weight_decay_is_optax():
  check_traj(run_gradtx(gradtx.adamw(0.05))[0], _adam_ref(0.05, 0.9, 0.999, 1e-8, wd=1e-4))


# --------------------------------------------------------------------- clipping

DEPTH = 20


def deep_product_grad(w):
  """Gradient of prod_l w_l: d/dw_l = prod_{k != l} w_k (1.5^(L-1) at w = 1.5)."""
  return np.array([np.prod(np.delete(w, i)) for i in range(w.size)])


@pytest.mark.parametrize("max_norm,lr", [(1.0, 0.05), (10.0, 0.01)])
def test_clip_by_global_norm_on_deep_product(max_norm, lr):
  """g <- g * min(1, max_norm / ||g||); w <- w - lr g, with the 1.5^L exploding gradient."""
  w0 = np.full(DEPTH, 1.5)
  g0 = deep_product_grad(w0)
  np.testing.assert_allclose(g0, 1.5 ** (DEPTH - 1))
  norm0 = np.sqrt(DEPTH) * 1.5 ** (DEPTH - 1)
  assert norm0 > 5e3  # exploding

  w, want, clipped = w0.copy(), [], []
  for _ in range(STEPS):
    g = deep_product_grad(w)
    n = np.sqrt(np.sum(g ** 2))
    clipped.append(n > max_norm)
    w = w - lr * g * min(1.0, max_norm / n)
    want.append(w)
  want = np.stack(want)
  # Both regimes occur: clipped early, unclipped once the product has shrunk.
  assert clipped[0] and not clipped[-1]

  tx = gradtx.chain(gradtx.clip_by_global_norm(max_norm), gradtx.sgd(lr))
  got, _ = run_gradtx(tx, grad=deep_product_grad, w0=w0)
  np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_clip_by_global_norm_over_a_tree():
  """The norm is over all leaves together; a small gradient is left unchanged."""
  g = {"a": jnp.asarray(np.full(3, 1.5 ** 10)), "b": [jnp.asarray(np.array([-(1.5 ** 12)]))]}
  norm = np.sqrt(3 * 1.5 ** 20 + 1.5 ** 24)
  assert np.isclose(float(gradtx.global_norm(g)), norm, rtol=1e-14)
  tx = gradtx.clip_by_global_norm(2.0)
  u, _ = tx.update(g, tx.init(g))
  np.testing.assert_allclose(np.asarray(u["a"]), np.full(3, 1.5 ** 10) * 2.0 / norm, rtol=1e-13)
  np.testing.assert_allclose(np.asarray(u["b"][0]), [-(1.5 ** 12) * 2.0 / norm], rtol=1e-13)
  assert np.isclose(float(gradtx.global_norm(u)), 2.0, rtol=1e-13)
  small = jax.tree.map(lambda x: x * 1e-6, g)
  u2, _ = tx.update(small, tx.init(small))
  for x, y in zip(jax.tree.leaves(u2), jax.tree.leaves(small)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_clip_elementwise():
  g = np.array([-3.0, -0.5, 0.0, 0.2, 7.0])
  u, _ = gradtx.clip(1.0).update(jnp.asarray(g), gradtx.clip(1.0).init(jnp.asarray(g)))
  np.testing.assert_array_equal(np.asarray(u), np.clip(g, -1.0, 1.0))
