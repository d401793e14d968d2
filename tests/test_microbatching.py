"""`gradtx.microbatching` against the full-batch computation, against Optax's functions,
and its errors (float64)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.microbatching as omb
import pytest

from gradtx import microbatching as mb

pytestmark = pytest.mark.usefixtures("x64")
T = mb.AccumulationType


def _close(a, b, rtol=1e-12, atol=1e-12):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def _data(seed=0, batch=12):
  rng = np.random.default_rng(seed)
  return (jnp.asarray(rng.normal()), jnp.asarray(rng.normal(size=(batch, 3))),
          {"u": jnp.asarray(rng.normal(size=(batch,)))})


def _fun(c, x, d):
  return {"rows": x * d["u"][:, None] + c, "total": jnp.sum(x ** 2) * c,
          "mean": jnp.mean(x, axis=0)}


@pytest.mark.parametrize("size", [1, 3, 4, 12])
def test_microbatch_equals_full_batch_and_optax(size):
  c, x, d = _data()
  acc = {"rows": T.CONCAT, "total": T.SUM, "mean": T.MEAN}
  got = mb.microbatch(_fun, (1, 2), size, acc)(c, x, d)
  _close(got, _fun(c, x, d))
  optax_acc = {"rows": omb.AccumulationType.CONCAT, "total": omb.AccumulationType.SUM,
               "mean": omb.AccumulationType.MEAN}
  _close(got, omb.microbatch(_fun, (1, 2), size, optax_acc)(c, x, d))
  _close(got, mb.microbatch(_fun, (1, 2), size, optax_acc)(c, x, d))  # Optax's enum works too


def test_split_is_column_major_like_optax():
  x = jnp.arange(6.0)
  pairs = lambda v: v[:-1] @ v[1:]
  got = mb.microbatch(pairs, 0, 3)(x)
  assert float(got) == 0 * 2 + 2 * 4 + 1 * 3 + 3 * 5
  assert float(got) == float(omb.microbatch(pairs, 0, 3)(x))
  _close(mb.reshape_batch_axis({"a": jnp.arange(12.0).reshape(2, 6)}, 3, axis=1),
         omb.reshape_batch_axis({"a": jnp.arange(12.0).reshape(2, 6)}, 3, axis=1))


def test_running_mean_in_axes_kwargs_and_early_stop():
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(4, 8, 2)))
  f = lambda a: jnp.sum(a ** 2, axis=(0, 1))
  got = mb.microbatch(f, 0, 2, T.RUNNING_MEAN, in_axes=1)(x)
  _close(got, f(x) / 4)
  g = lambda a, *, b: jnp.sum(a * jnp.swapaxes(b, 0, 1))  # a: batch axis 1, b: axis 0
  _close(mb.microbatch(g, 0, 2, argnames="b", in_axes=(1, 0))(x, b=jnp.swapaxes(x, 0, 1)),
         jnp.sum(x * x))
  ones = jnp.ones(16)
  assert float(mb.microbatch(jnp.sum, 0, 4, num_real_microbatches=3)(ones)) == 12.0
  steps = jax.jit(lambda v, n: mb.microbatch(jnp.sum, 0, 4, num_real_microbatches=n)(v))
  assert float(steps(ones, 2)) == 8.0
  assert mb.microbatch(jnp.sum, 0, None) is jnp.sum


def test_custom_accumulator():
  maximum = mb.Accumulator(init=lambda s: jnp.full(s.shape, -jnp.inf, s.dtype),
                           update=lambda c, v, i: jnp.maximum(c, v), finalize=lambda c: c,
                           aggregate=lambda xs: jnp.max(xs, axis=0))
  x = jnp.asarray(np.random.default_rng(2).normal(size=(8, 3)))
  _close(mb.microbatch(lambda v: jnp.max(v, axis=0), 0, 2, maximum)(x), jnp.max(x, axis=0))


def test_micro_vmap():
  x = jnp.asarray(np.random.default_rng(3).normal(size=(2, 8, 3)))
  _close(mb.micro_vmap(jnp.sum, in_axes=1, microbatch_size=2)(x), jax.vmap(jnp.sum, 1)(x))
  _close(mb.micro_vmap(jnp.sum, in_axes=1, microbatch_size=4, accumulator=T.SUM)(x),
         jnp.sum(x))
  f = lambda a, *, b: jnp.sum(a + b)
  y = jnp.ones((8, 3))
  _close(mb.micro_vmap(f, microbatch_size=2)(x[0], b=y), jax.vmap(f)(x[0], b=y))
  with pytest.raises(NotImplementedError):
    mb.micro_vmap(jnp.sum, out_axes=1)


@pytest.mark.parametrize("keep_batch_dim", [False, True])
@pytest.mark.parametrize("size", [None, 2])
def test_micro_grad_per_example(keep_batch_dim, size):
  rng = np.random.default_rng(4)
  params = {"w": jnp.asarray(rng.normal(size=3)), "b": jnp.asarray(0.2)}
  feats, targets = jnp.asarray(rng.normal(size=(6, 3))), jnp.asarray(rng.normal(size=6))

  def loss(p, f, t):
    return 0.5 * jnp.mean((f @ p["w"] + p["b"] - t) ** 2)

  (grads, sq), aux = mb.micro_grad(
      loss, batch_argnums=(1, 2), keep_batch_dim=keep_batch_dim, microbatch_size=size,
      transform_fn=lambda g: (g, jax.tree.map(jnp.square, g)),
      metrics_fn=lambda g: g["b"])(params, feats, targets)
  single = lambda p, f, t: loss(p, f[None], t[None])
  per_ex = jax.vmap(jax.grad(single), (None, 0, 0))(params, feats, targets)
  _close(grads, jax.tree.map(lambda g: g.sum(0), per_ex))
  _close(sq, jax.tree.map(lambda g: (g ** 2).sum(0), per_ex))
  _close(aux.values, jax.vmap(single, (None, 0, 0))(params, feats, targets))
  _close(aux.metrics, per_ex["b"])
  assert aux.aux is None
  want = omb.micro_grad(loss, batch_argnums=(1, 2), keep_batch_dim=keep_batch_dim,
                        microbatch_size=size)(params, feats, targets)
  _close(mb.micro_grad(loss, batch_argnums=(1, 2), keep_batch_dim=keep_batch_dim,
                       microbatch_size=size)(params, feats, targets)[0], want[0])


def test_errors():
  c, x, d = _data()
  with pytest.raises(ValueError, match="divisible"):
    mb.microbatch(_fun, (1, 2), 5)(c, x, d)
  d_bad = {"u": jnp.ones(10)}
  with pytest.raises(ValueError, match=r"argument 2\['u'\]: 10"):
    mb.microbatch(_fun, (1, 2), 2)(c, x, d_bad)
  with pytest.raises(ValueError, match="floating-point"):
    mb.microbatch(lambda v: v, 0, 2, T.MEAN)(jnp.arange(4))
  with pytest.raises(ValueError, match="Unknown accumulator"):
    mb.microbatch(jnp.sum, 0, 2, "sum")(jnp.ones(4))
