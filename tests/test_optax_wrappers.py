"""Optax 0.2.8's protocol extras, combinators and wrappers, against Optax's function of the
same name in float64 (rtol 1e-10) on a mixed tree: updates over several steps, and the
state where users read it (field names, which leaves carry state).

Lookahead on a plain params tree is checked against Optax's `LookaheadParams` path.
"""

from __future__ import annotations

import collections
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx

pytestmark = pytest.mark.usefixtures("x64")

RTOL = 1e-10
STEPS = 6


def _params():
  rng = np.random.default_rng(0)
  return {"w": jnp.asarray(rng.normal(size=(3, 4))), "b": jnp.asarray(rng.normal(size=4)),
          "s": jnp.asarray(rng.normal()), "deep": [jnp.asarray(rng.normal(size=(2, 2)))]}


def _grads(step, params):
  rng = np.random.default_rng(100 + step)
  return jax.tree.map(lambda p: jnp.asarray(rng.normal(size=np.shape(p))) + 0.1 * p, params)


def _run(tx, params=None, steps=STEPS, grads=_grads, **extra):
  """Params after each step, the updates and the final state; `params` is passed."""
  params = _params() if params is None else params
  state = tx.init(params)
  update = jax.jit(functools.partial(tx.update, **extra))
  trajectory, updates_seen = [], []
  for t in range(steps):
    updates, state = update(grads(t, params), state, params)
    updates_seen.append(updates)
    params = optax.apply_updates(params, updates)
    trajectory.append(params)
  return trajectory, updates_seen, state


def _close(a, b, rtol=RTOL):
  la, ta = jax.tree.flatten(a)
  lb, tb = jax.tree.flatten(b)
  assert len(la) == len(lb), (ta, tb)
  for x, y in zip(la, lb):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=1e-14)


def _same_runs(ours, theirs, **kw):
  (p1, u1, _), (p2, u2, _) = _run(ours, **kw), _run(theirs, **kw)
  _close(u1, u2)
  _close(p1, p2)


_PARAM_KEYS = ("['w']", "['b']", "['s']", "['deep'][0]")


def _leaf_paths(tree):
  """`(path, shape)` of every per-parameter state leaf: which parameters a state keeps
  arrays for (MaskedNode and None hold none), independent of the NamedTuple classes'
  identities. Scalars gradtx records besides Optax's (learning rate) are left out."""
  flat = jax.tree_util.tree_flatten_with_path(tree)[0]
  return [(jax.tree_util.keystr(p), np.shape(x)) for p, x in flat
          if jax.tree_util.keystr(p).endswith(_PARAM_KEYS)]


# ------------------------------------------------------------------ protocol


def test_gradient_transformation_from_functions_and_extra_args():
  seen = {}

  def init(params):
    return {"n": jnp.zeros([])}

  def update_loss(updates, state, params=None, *, loss, **extra_args):
    seen["loss"] = loss
    return jax.tree.map(lambda u: u / loss, updates), {"n": state["n"] + 1}

  def update_loss_only(updates, state, params=None, *, loss):  # no **kwargs: gets `loss` only
    return update_loss(updates, state, params, loss=loss)

  def update_plain(updates, state, params=None):
    return updates, state

  needs_loss = gradtx.GradientTransformationExtraArgs(init, update_loss)
  plain = gradtx.GradientTransformation(init=init, update=update_plain)
  for tx in (needs_loss, plain, gradtx.adam(0.1), gradtx.chain(plain)):
    assert isinstance(tx, gradtx.GradientTransformation)
    assert isinstance(tx, gradtx.GradientTransformationExtraArgs)
  assert gradtx.with_extra_args_support(plain) is plain
  wrapped = gradtx.with_extra_args_support((init, update_plain))
  assert isinstance(wrapped, gradtx.GradientTransformationExtraArgs)
  assert gradtx.init_empty_state({"a": jnp.ones(2)}) == gradtx.EmptyState()
  init_fn, update_fn = needs_loss  # unpacks like Optax's NamedTuple
  assert init_fn == needs_loss.init

  ours = gradtx.chain(plain, gradtx.scale(2.0), needs_loss)
  theirs = optax.chain(optax.GradientTransformation(init, update_plain), optax.scale(2.0),
                       optax.GradientTransformationExtraArgs(init, update_loss))
  p = _params()
  u1, s1 = ours.update(p, ours.init(p), loss=4.0, ignored="x")
  u2, s2 = theirs.update(p, theirs.init(p), loss=4.0, ignored="x")
  _close(u1, u2)
  _close(s1, s2)
  assert seen["loss"] == 4.0
  with pytest.raises(TypeError):  # a required extra argument is still required
    ours.update(p, ours.init(p))
  strict = gradtx.chain(gradtx.GradientTransformation(init, update_loss_only), gradtx.scale(2.0))
  u3, _ = strict.update(p, strict.init(p), loss=4.0, ignored="x")
  _close(u3, u1)


def test_stateless_and_identity_init_empty_state():
  for tx in (gradtx.stateless(lambda g, p: g), gradtx.stateless_with_tree_map(lambda g, p: g),
             gradtx.identity()):
    assert isinstance(tx.init(None), gradtx.EmptyState)


# ------------------------------------------------------------------ combinators


def test_named_chain_matches_optax():
  ours = gradtx.named_chain(("clip", gradtx.clip_by_global_norm(1.0)), ("adam", gradtx.adam(0.1)))
  theirs = optax.named_chain(("clip", optax.clip_by_global_norm(1.0)), ("adam", optax.adam(0.1)))
  _same_runs(ours, theirs)
  state = ours.init(_params())
  assert isinstance(state, collections.OrderedDict) and list(state) == ["clip", "adam"]
  with pytest.raises(ValueError, match="unique"):
    gradtx.named_chain(("a", gradtx.scale(1.0)), ("a", gradtx.scale(2.0)))


MASK = {"w": True, "b": False, "s": True, "deep": [False]}


def test_masked_state_structure_matches_optax():
  ours, theirs = (gradtx.masked(gradtx.sgd(0.1, momentum=0.9), MASK),
                  optax.masked(optax.sgd(0.1, momentum=0.9), MASK))
  _same_runs(ours, theirs)
  s1, s2 = ours.init(_params()), theirs.init(_params())
  assert _leaf_paths(s1) == _leaf_paths(s2)
  assert isinstance(s1.inner_state[0].trace["b"], gradtx.MaskedNode)


def test_masked_accepts_a_callable_pytree_mask_and_a_leafless_placeholder():
  mask_fn = lambda p: jax.tree.map(lambda x: x.ndim == 2, p)
  _same_runs(gradtx.masked(gradtx.adam(0.1), mask_fn), optax.masked(optax.adam(0.1), mask_fn))
  # `tree.map_params` calls `init` with a stand-in without leaves: passed down unmasked.
  ours = gradtx.masked(gradtx.sgd(0.1, momentum=0.9), MASK)
  state = ours.init(_params())
  mapped = optax.tree.map_params(ours, lambda v: v + 1, state)
  _close(mapped.inner_state[0].trace, jax.tree.map(lambda x: x + 1, state.inner_state[0].trace))


LABELS = {"w": "adam", "b": "sgd", "s": "adam", "deep": ["zero"]}


def _partition(lib):
  return lib.partition({"adam": lib.adam(0.1), "sgd": lib.sgd(0.1, momentum=0.5),
                        "zero": lib.set_to_zero()}, LABELS)


def test_partition_and_multi_transform_state_match_optax():
  _same_runs(_partition(gradtx), _partition(optax))
  s1, s2 = _partition(gradtx).init(_params()), _partition(optax).init(_params())
  assert _leaf_paths(s1) == _leaf_paths(s2)
  assert isinstance(s1.inner_states["adam"], gradtx.MaskedState)
  assert gradtx.MultiTransformState is gradtx.PartitionState
  assert gradtx.multi_transform is gradtx.partition


def test_partition_unknown_label_is_an_early_named_error():
  tx = gradtx.partition({"a": gradtx.sgd(0.1)}, {"w": "a", "b": "a", "s": "typo", "deep": "a"})
  with pytest.raises(ValueError, match=r"'s'.*'typo'"):
    jax.jit(tx.init)(_params())


@pytest.mark.parametrize("mask", [MASK, True, False, {"w": True, "b": False, "s": False,
                                                      "deep": True}])
def test_freeze_and_selective_transform_match_optax(mask):
  _same_runs(gradtx.freeze(mask), optax.freeze(mask))
  assert gradtx.freeze(mask).init(_params()) == gradtx.MaskedState(gradtx.EmptyState())
  ours = gradtx.selective_transform(gradtx.adam(0.1), freeze_mask=mask)
  theirs = optax.selective_transform(optax.adam(0.1), freeze_mask=mask)
  _same_runs(ours, theirs)
  assert _leaf_paths(ours.init(_params())) == _leaf_paths(theirs.init(_params()))


def test_flatten_matches_optax():
  _same_runs(gradtx.flatten(gradtx.adam(0.1)), optax.flatten(optax.adam(0.1)))
  state = gradtx.flatten(gradtx.adam(0.1)).init(_params())
  assert state[0].mu.shape == (3 * 4 + 4 + 1 + 4,)


# ------------------------------------------------------------------ accumulation


def _nan_grads(step, params):
  g = _grads(step, params)
  return jax.tree.map(lambda x: x * jnp.nan, g) if step in (2, 5) else g


@pytest.mark.parametrize("kw", [
    dict(every_k_schedule=3),
    pytest.param(dict(every_k_schedule=lambda step: jnp.where(step < 1, 2, 3)),
                 marks=pytest.mark.slow),
    pytest.param(dict(every_k_schedule=2, use_grad_mean=False), marks=pytest.mark.slow),
    dict(every_k_schedule=2, should_skip_update_fn=optax.skip_not_finite),
])
def test_multi_steps_matches_optax(kw):
  ours = gradtx.MultiSteps(gradtx.adam(0.1), **kw)
  theirs = optax.MultiSteps(optax.adam(0.1), accumulator_dtype=jnp.float64, **kw)
  grads = _nan_grads if "should_skip_update_fn" in kw else _grads
  (p1, u1, s1) = _run(ours, steps=9, grads=grads)
  (p2, u2, s2) = _run(theirs.gradient_transformation(), steps=9, grads=grads)
  _close(u1, u2)
  _close(p1, p2)
  assert s1._fields == s2._fields
  for name in ("mini_step", "gradient_step", "acc_grads", "skip_state"):
    _close(getattr(s1, name), getattr(s2, name))
  _close(ours.has_updated(s1), theirs.has_updated(s2))
  assert ours.gradient_transformation() is ours and ours.inner_opt is ours.opt


def test_multi_steps_has_updated_follows_the_schedule():
  ours = gradtx.MultiSteps(gradtx.sgd(0.1), every_k_schedule=2)
  params, state, flags = _params(), None, []
  state = ours.init(params)
  for t in range(5):
    _, state = ours.update(_grads(t, params), state, params)
    flags.append(bool(ours.has_updated(state)))
  assert flags == [False, True, False, True, False]


def test_skip_functions_match_optax():
  cases = [_params(), jax.tree.map(lambda x: x * jnp.inf, _params()),
           {"a": jnp.array([1.0, jnp.nan]), "b": jnp.array(3.0)}]
  for tree in cases:
    for ours, theirs in [(gradtx.skip_not_finite, optax.skip_not_finite),
                         (functools.partial(gradtx.skip_large_updates, max_squared_norm=5.0),
                          functools.partial(optax.skip_large_updates, max_squared_norm=5.0))]:
      (a, sa), (b, sb) = ours(tree, 0, None), theirs(tree, 0, None)
      assert bool(a) == bool(b) and sorted(sa) == sorted(sb)
      for key in sa:
        np.testing.assert_allclose(np.asarray(sa[key], float), np.asarray(sb[key], float),
                                   rtol=RTOL)


def test_apply_every_matches_optax():
  ours = gradtx.chain(gradtx.apply_every(3), gradtx.sgd(0.1, momentum=0.9))
  theirs = optax.chain(optax.apply_every(3), optax.sgd(0.1, momentum=0.9))
  _same_runs(ours, theirs)
  state = gradtx.apply_every(3).init(_params())
  assert isinstance(state, gradtx.ApplyEvery) and state._fields == ("count", "grad_acc")


# ------------------------------------------------------------------ conditional, finite


@pytest.mark.parametrize("name", ["conditionally_transform", "conditionally_mask"])
def test_conditional_with_a_stateful_inner_matches_optax(name):
  cond = lambda step: (step % 3) != 1
  ours = getattr(gradtx, name)(gradtx.adam(0.1), cond)
  theirs = getattr(optax, name)(optax.adam(0.1), cond)
  (p1, u1, s1), (p2, u2, s2) = _run(ours), _run(theirs)
  _close(u1, u2)
  _close(p1, p2)
  assert s1._fields == s2._fields
  _close(s1.inner_state[0], s2.inner_state[0])  # ScaleByAdamState
  assert int(s1.step) == int(s2.step) == STEPS


def test_conditionally_mask_forwards_extra_args():
  cond = lambda step, loss, **_: loss > 0.5
  ours = gradtx.conditionally_mask(gradtx.scale(2.0), cond, forward_extra_args=True)
  theirs = optax.conditionally_mask(optax.scale(2.0), cond, forward_extra_args=True)
  for loss in (1.0, 0.1):
    _same_runs(ours, theirs, loss=loss)


def test_zero_nans_state_matches_optax():
  g = {"a": jnp.array([1.0, jnp.nan]), "b": jnp.array(3.0)}
  ours, theirs = gradtx.zero_nans(), optax.zero_nans()
  (u1, s1), (u2, s2) = ours.update(g, ours.init(g)), theirs.update(g, theirs.init(g))
  _close(u1, u2)
  assert s1._fields == s2._fields == ("found_nan",)
  assert jax.tree.map(bool, s1.found_nan) == jax.tree.map(bool, s2.found_nan) == {"a": True,
                                                                                  "b": False}
  _close(ours.init(g), theirs.init(g))


# ------------------------------------------------------------------ monitoring


def test_snapshot_and_monitor_match_optax():
  def build(lib):
    return lib.chain(lib.sgd(0.1, momentum=0.9),
                     lib.snapshot("before", optax.tree.norm),
                     lib.monitor({"norm": optax.tree.norm,
                                  "norm_ema": lib.measure_with_ema(optax.tree.norm, 0.8)}),
                     lib.clip_by_global_norm(0.05))
  (p1, u1, s1), (p2, u2, s2) = _run(build(gradtx)), _run(build(optax))
  _close(u1, u2)
  _close(p1, p2)
  for name in ("before", "norm", "norm_ema"):
    np.testing.assert_allclose(optax.tree.get(s1, name), optax.tree.get(s2, name), rtol=RTOL)
  assert _leaf_paths(s1) == _leaf_paths(s2)
  assert s1[2]._fields == ("measurements", "measure_states")
  assert build(gradtx).init(_params())[2].measurements == {}  # as Optax: empty until a step


# ------------------------------------------------------------------ lookahead


_SLOW = pytest.mark.slow


@pytest.mark.parametrize("sync_period,alpha,reset_state", [
    (3, 0.5, False), (2, 1.0, True),
    pytest.param(3, 0.5, True, marks=_SLOW), pytest.param(1, 0.3, False, marks=_SLOW),
    pytest.param(1, 0.3, True, marks=_SLOW), pytest.param(4, 0.0, False, marks=_SLOW),
    pytest.param(4, 0.0, True, marks=_SLOW), pytest.param(2, 1.0, False, marks=_SLOW)])
def test_lookahead_plain_params_equal_optax_lookahead_params(sync_period, alpha, reset_state):
  ours = gradtx.lookahead(gradtx.adam(0.1), sync_period, alpha, reset_state)
  theirs = optax.lookahead(optax.adam(0.1), sync_period, alpha, reset_state)
  fast_grads = lambda t, p: _grads(t, p.fast if isinstance(p, optax.LookaheadParams) else p)
  p1, _, s1 = _run(ours, steps=7)
  p2, _, s2 = _run(theirs, params=optax.LookaheadParams.init_synced(_params()), steps=7,
                   grads=fast_grads)
  _close(p1, [p.fast for p in p2])
  _close(s1.slow, p2[-1].slow)
  _close(s1.fast_state[0], s2.fast_state[0])  # ScaleByAdamState
  assert int(s1.steps_since_sync) == int(s2.steps_since_sync)
  # gradtx's lookahead given Optax's LookaheadParams follows Optax's path exactly
  p3, u3, s3 = _run(ours, params=optax.LookaheadParams.init_synced(_params()), steps=7,
                    grads=fast_grads)
  _close(p3, p2)
  assert isinstance(u3[0], optax.LookaheadParams) and s3.slow is None


def test_lookahead_params_type_and_errors():
  params = gradtx.LookaheadParams.init_synced(_params())
  assert params.fast is params.slow
  tx = gradtx.lookahead(gradtx.sgd(0.1), 2, 0.5)
  updates, _ = tx.update(_params(), tx.init(params), params)
  assert isinstance(updates, gradtx.LookaheadParams)
  with pytest.raises(ValueError, match="sync_period"):
    gradtx.lookahead(gradtx.sgd(0.1), 0, 0.5)
  with pytest.raises(ValueError, match="params"):
    tx.update(_params(), tx.init(_params()))


# ------------------------------------------------------------------ jit / vmap


@pytest.mark.slow
def test_vmap_over_hyperparameters_of_wrappers():
  alphas = jnp.array([0.0, 0.5, 1.0])
  params = _params()

  def one(alpha):
    tx = gradtx.lookahead(gradtx.sgd(0.1), 2, alpha)
    state = tx.init(params)
    p = params
    for t in range(2):
      u, state = tx.update(_grads(t, p), state, p)
      p = gradtx.apply_updates(p, u)
    return p

  batched = jax.jit(jax.vmap(one))(alphas)
  for i, alpha in enumerate(np.asarray(alphas)):
    theirs = optax.lookahead(optax.sgd(0.1), 2, float(alpha))
    lp = optax.LookaheadParams.init_synced(params)
    state = theirs.init(lp)
    for t in range(2):
      u, state = theirs.update(_grads(t, lp.fast), state, lp)
      lp = optax.apply_updates(lp, u)
    _close(jax.tree.map(lambda x: x[i], batched), lp.fast)

  def multi(k):
    tx = gradtx.MultiSteps(gradtx.sgd(0.1), k)
    state = tx.init(params)
    u, state = tx.update(_grads(0, params), state, params)
    return u, state.mini_step

  u, mini = jax.vmap(multi)(jnp.array([1, 2]))
  assert np.asarray(mini).tolist() == [0, 1]
  assert np.all(np.asarray(u["w"][1]) == 0) and np.any(np.asarray(u["w"][0]) != 0)
