"""Parameter groups and selection: masked, partition / multi_transform, freeze,
set_to_zero, param_groups; by_path / by_leaf / by_ndim and ~, &, |.

The loss is a sum of independent per-leaf terms, so the gradient of a leaf
depends only on that leaf: a separate run on the sub-tree of the selected
leaves (NumPy float64 Adam / AdamW / SGD, written here) must
give exactly the selected leaves' trajectory, and the unselected leaves must
be untouched (frozen, bit for bit) or passed through (masked).
Checked on dicts, lists, NamedTuples, Flax (linen params dict, nnx.State)
and Equinox modules.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn
from flax import nnx

import gradtx
from gradtx.tree_utils.selection import path_str

STEPS = 5
RTOL, ATOL = 1e-10, 1e-12


pytestmark = pytest.mark.usefixtures("x64")


def _f64(tree):
  return jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), tree)


# ---------------------------------------------------------------------------- helpers


def _leaf_grad(p, i):
  """Gradient of leaf number i: k (p - t) + 0.1 p^3, with fixed t, k per leaf."""
  n = int(np.prod(p.shape))
  t = np.sin(np.arange(n) + 3.0 * i).reshape(p.shape)
  k = (1.0 + 0.5 * np.cos(0.7 * np.arange(n) + i)).reshape(p.shape)
  return (jnp.asarray(k, p.dtype) * (p - jnp.asarray(t, p.dtype)) + 0.1 * p ** 3).astype(p.dtype)


def _grads(tree):
  leaves, treedef = jax.tree.flatten(tree)
  return jax.tree.unflatten(treedef, [_leaf_grad(x, i) for i, x in enumerate(leaves)])


@jax.jit
def _step(tx, params, state):
  updates, state = tx.update(_grads(params), state, params)
  return gradtx.apply_updates(params, updates), state, updates


def _run(tx, params, steps=STEPS):
  state = tx.init(params)
  all_updates = []
  for _ in range(steps):
    params, state, updates = _step(tx, params, state)
    all_updates.append(updates)
  return params, state, all_updates


def _np_leaf_grad(p, i):
  n = p.size
  t = np.sin(np.arange(n) + 3.0 * i).reshape(p.shape)
  k = (1.0 + 0.5 * np.cos(0.7 * np.arange(n) + i)).reshape(p.shape)
  return k * (p - t) + 0.1 * p ** 3


def _np_run(rule, leaves, idx, steps=STEPS):
  """NumPy float64 run of `rule` on the list of selected leaves (global indices `idx`).

  rule: ("adam", lr) -- Kingma & Ba with b1=0.9, b2=0.999, eps=1e-8;
        ("adamw", lr, wd) -- plus decoupled decay wd * w;
        ("sgd", lr, momentum) -- v = g + mu v, w -= lr v;
        ("pass",) -- masked's pass-through: the raw gradient is the update.
  Leaves are independent (the loss is a sum over leaves), so each runs alone.
  """
  out = []
  for leaf, i in zip(leaves, idx):
    p = np.asarray(leaf, np.float64)
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t in range(1, steps + 1):
      g = _np_leaf_grad(p, i)
      if rule[0] in ("adam", "adamw"):
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        d = (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        if rule[0] == "adamw":
          d = d + rule[2] * p
        p = p - rule[1] * d
      elif rule[0] == "sgd":
        m = g + rule[2] * m
        p = p - rule[1] * m
      else:
        p = p + g
    out.append(p)
  return out


def _paths(tree):
  return [path_str(p) for p, _ in jax.tree_util.tree_leaves_with_path(tree)]


def _by_path_lookup(tree):
  """path -> value, with None kept as a value (state trees hold None for unselected leaves)."""
  flat, _ = jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: x is None)
  return {path_str(p): v for p, v in flat}


def _assert_state_only_for(state_tree, params, selected):
  """`state_tree` is shaped like `params` with an array exactly at the selected leaves."""
  lookup = _by_path_lookup(state_tree)
  for path, leaf, on in zip(_paths(params), jax.tree.leaves(params), selected):
    if on:
      assert lookup[path] is not None and lookup[path].shape == leaf.shape, path
    else:
      assert lookup.get(path) is None, f"{path} has optimizer state"
  n_arrays = sum(1 for v in jax.tree.leaves(state_tree))
  assert n_arrays == sum(selected)


def _dict_tree():
  rng = np.random.default_rng(0)
  f = lambda *s: jnp.asarray(rng.normal(size=s), jnp.float64)
  return {"encoder": {"w": f(3, 4), "bias": f(4)}, "decoder": {"w": f(4, 2), "bias": f(2)},
          "temperature": f()}


# Leaf order of _dict_tree: decoder/bias, decoder/w, encoder/bias, encoder/w, temperature.
DICT_PATHS = ["decoder/bias", "decoder/w", "encoder/bias", "encoder/w", "temperature"]


# -------------------------------------------------------------------------- selection


SELECTORS = {
    "by_path *bias": (gradtx.by_path("*bias"), [1, 0, 1, 0, 0]),
    "by_path encoder/*": (gradtx.by_path("encoder/*"), [0, 0, 1, 1, 0]),
    "by_path two patterns": (gradtx.by_path("*bias", "temperature"), [1, 0, 1, 0, 1]),
    "by_ndim(2)": (gradtx.by_ndim(2), [0, 1, 0, 1, 0]),
    "by_ndim(0, 0)": (gradtx.by_ndim(0, 0), [0, 0, 0, 0, 1]),
    "by_ndim(1, 1)": (gradtx.by_ndim(1, 1), [1, 0, 1, 0, 0]),
    "by_leaf size > 4": (gradtx.by_leaf(lambda path, x: x.size > 4), [0, 1, 0, 1, 0]),
    "by_leaf path": (gradtx.by_leaf(lambda path, x: path.startswith("dec")), [1, 1, 0, 0, 0]),
    "~by_path": (~gradtx.by_path("*bias"), [0, 1, 0, 1, 1]),
    "& ~": (gradtx.by_path("encoder/*") & ~gradtx.by_path("*bias"), [0, 0, 0, 1, 0]),
    "|": (gradtx.by_path("*bias") | gradtx.by_ndim(0, 0), [1, 0, 1, 0, 1]),
    "~(a | b) & c": (~(gradtx.by_path("decoder/*") | gradtx.by_ndim(0, 0)) & gradtx.by_ndim(1),
                     [0, 0, 1, 1, 0]),
}


def test_dict_leaf_paths():
  assert _paths(_dict_tree()) == DICT_PATHS


@pytest.mark.parametrize("name", sorted(SELECTORS))
def test_selector_mask(name):
  selector, want = SELECTORS[name]
  mask = selector(_dict_tree())
  assert jax.tree.structure(mask) == jax.tree.structure(_dict_tree())
  assert [bool(x) for x in jax.tree.leaves(mask)] == [bool(x) for x in want]


# ------------------------------------------------------------- masked / freeze on dicts


@pytest.mark.parametrize("name", ["by_path *bias", "& ~", "|", "by_leaf size > 4"])
def test_masked_updates_exactly_the_selected_leaves(name):
  selector, want = SELECTORS[name]
  params = _dict_tree()
  final, state, _ = _run(gradtx.masked(gradtx.adam(0.1), selector), params)
  leaves0, leaves1 = jax.tree.leaves(params), jax.tree.leaves(final)
  idx = [i for i, on in enumerate(want) if on]
  ref = _np_run(("adam", 0.1), [leaves0[i] for i in idx], idx)
  for i, r in zip(idx, ref):
    np.testing.assert_allclose(leaves1[i], r, rtol=RTOL, atol=ATOL, err_msg=DICT_PATHS[i])
  for i, on in enumerate(want):
    if not on:  # passed through unchanged: the raw gradient was added
      np.testing.assert_allclose(leaves1[i], _np_run(("pass",), [leaves0[i]], [i])[0], rtol=1e-13)
  _assert_state_only_for(state.inner_state[0].mu, params, want)
  _assert_state_only_for(state.inner_state[0].nu, params, want)


def test_masked_with_a_prefix_mask_tree():
  params = _dict_tree()
  mask = {"encoder": True, "decoder": False, "temperature": False}
  final, state, _ = _run(gradtx.masked(gradtx.sgd(0.1, momentum=0.9), mask), params)
  leaves0, leaves1 = jax.tree.leaves(params), jax.tree.leaves(final)
  ref = _np_run(("sgd", 0.1, 0.9), [leaves0[2], leaves0[3]], [2, 3])
  for i, r in zip([2, 3], ref):
    np.testing.assert_allclose(leaves1[i], r, rtol=RTOL, atol=ATOL)
  for i in [0, 1, 4]:
    np.testing.assert_allclose(leaves1[i], _np_run(("pass",), [leaves0[i]], [i])[0], rtol=1e-13)
  _assert_state_only_for(state.inner_state[0].trace, params, [0, 0, 1, 1, 0])


def _check_freeze(params, selector, frozen, inner=None, ref=None):
  """chain(freeze(selector), inner): frozen leaves bit-identical, zero updates, no state;
  the others follow `ref` (Optax) on the sub-tree of trainable leaves."""
  inner = inner or gradtx.adam(0.1)
  ref = ref or ("adam", 0.1)
  final, state, updates = _run(gradtx.chain(gradtx.freeze(selector), inner), params)
  leaves0, leaves1 = jax.tree.leaves(params), jax.tree.leaves(final)
  idx = [i for i, on in enumerate(frozen) if not on]
  want = _np_run(ref, [leaves0[i] for i in idx], idx)
  for i, r in zip(idx, want):
    np.testing.assert_allclose(leaves1[i], r, rtol=RTOL, atol=ATOL)
  for i, on in enumerate(frozen):
    if on:
      np.testing.assert_array_equal(leaves1[i], leaves0[i])
      for u in updates:
        assert not np.any(np.asarray(jax.tree.leaves(u)[i]))
  first = state[1][0]  # the inner optimizer's ScaleByAdamState or TraceState
  moments = first.mu if hasattr(first, "mu") else first.trace
  _assert_state_only_for(moments, params, [not f for f in frozen])
  assert jax.tree.leaves(state[0]) == []  # the freeze stage keeps nothing
  return final, state


@pytest.mark.parametrize("name", ["by_path encoder/*", "by_ndim(2)", "~by_path", "|"])
def test_freeze_dict(name):
  selector, frozen = SELECTORS[name]
  _check_freeze(_dict_tree(), selector, frozen)


def test_freeze_with_a_bool_tree():
  params = _dict_tree()
  mask = jax.tree.map(lambda _: False, params)
  mask["encoder"] = {"w": True, "bias": True}
  _check_freeze(params, mask, [0, 0, 1, 1, 0], gradtx.sgd(0.05, momentum=0.9),
                ("sgd", 0.05, 0.9))


def test_set_to_zero():
  params = _dict_tree()
  final, state, updates = _run(gradtx.set_to_zero(), params)
  for u in updates:
    assert all(not np.any(np.asarray(x)) for x in jax.tree.leaves(u))
  for a, b in zip(jax.tree.leaves(final), jax.tree.leaves(params)):
    np.testing.assert_array_equal(a, b)
  assert jax.tree.leaves(state) == []


# ------------------------------------------------------------- partition / multi_transform


@pytest.mark.parametrize("factory", [gradtx.partition, gradtx.multi_transform])
def test_partition_routes_each_leaf_to_its_group(factory):
  params = _dict_tree()
  labels = {"encoder": {"w": "enc", "bias": "enc"}, "decoder": {"w": "dec", "bias": "dec"},
            "temperature": "frozen"}
  tx = factory({"enc": gradtx.adam(0.05), "dec": gradtx.sgd(0.1, momentum=0.9),
                "frozen": gradtx.set_to_zero()}, labels)
  final, state, _ = _run(tx, params)
  leaves0, leaves1 = jax.tree.leaves(params), jax.tree.leaves(final)
  for rule, idx in [(("adam", 0.05), [2, 3]), (("sgd", 0.1, 0.9), [0, 1])]:
    for i, r in zip(idx, _np_run(rule, [leaves0[i] for i in idx], idx)):
      np.testing.assert_allclose(leaves1[i], r, rtol=RTOL, atol=ATOL, err_msg=DICT_PATHS[i])
  np.testing.assert_array_equal(leaves1[4], leaves0[4])
  _assert_state_only_for(state.inner_states["enc"].inner_state[0].mu, params, [0, 0, 1, 1, 0])
  _assert_state_only_for(state.inner_states["dec"].inner_state[0].trace, params, [1, 1, 0, 0, 0])


def test_partition_with_callable_labels_and_prefix_labels():
  params = _dict_tree()
  by_fn = gradtx.partition(
      {"a": gradtx.adam(0.05), "b": gradtx.sgd(0.1)},
      lambda p: jax.tree_util.tree_map_with_path(
          lambda path, _: "a" if path_str(path).startswith("encoder") else "b", p))
  by_prefix = gradtx.partition({"a": gradtx.adam(0.05), "b": gradtx.sgd(0.1)},
                               {"encoder": "a", "decoder": "b", "temperature": "b"})
  f1, _, _ = _run(by_fn, params)
  f2, _, _ = _run(by_prefix, params)
  leaves0 = jax.tree.leaves(params)
  ref_a = _np_run(("adam", 0.05), [leaves0[2], leaves0[3]], [2, 3])
  ref_b = _np_run(("sgd", 0.1, 0.0), [leaves0[0], leaves0[1], leaves0[4]], [0, 1, 4])
  for final in (f1, f2):
    got = jax.tree.leaves(final)
    for i, r in zip([2, 3, 0, 1, 4], ref_a + ref_b):
      np.testing.assert_allclose(got[i], r, rtol=RTOL, atol=ATOL)


def test_partition_unknown_label_names_the_leaf():
  params = _dict_tree()
  labels = {"encoder": {"w": "a", "bias": "oops"}, "decoder": "a", "temperature": "a"}
  tx = gradtx.partition({"a": gradtx.sgd(0.1), "b": gradtx.adam(0.1)}, labels)
  with pytest.raises(ValueError, match="encoder/bias") as err:
    tx.init(params)
  assert "oops" in str(err.value)


# ------------------------------------------------------------------------ param_groups


def test_param_groups_overrides_per_group():
  """adamw(1e-2, wd=0.1); biases: wd=0 (first match wins, also for encoder/bias);
  encoder/*: lr=1e-3; the rest: the default."""
  params = _dict_tree()
  tx = gradtx.param_groups(gradtx.adamw(1e-2, weight_decay=0.1), [
      ("*bias", dict(weight_decay=0.0)),
      ("encoder/*", dict(learning_rate=1e-3)),
  ])
  final, state, _ = _run(tx, params)
  leaves0, leaves1 = jax.tree.leaves(params), jax.tree.leaves(final)
  groups = [(("adamw", 1e-2, 0.0), [0, 2]),     # decoder/bias, encoder/bias
            (("adamw", 1e-3, 0.1), [3]),        # encoder/w
            (("adamw", 1e-2, 0.1), [1, 4])]     # decoder/w, temperature
  for rule, idx in groups:
    for i, r in zip(idx, _np_run(rule, [leaves0[i] for i in idx], idx)):
      np.testing.assert_allclose(leaves1[i], r, rtol=RTOL, atol=ATOL, err_msg=DICT_PATHS[i])
  hp = gradtx.hyperparams_of(state)
  assert float(hp["group0/weight_decay"]) == 0.0
  assert float(hp["group1/learning_rate"]) == pytest.approx(1e-3)
  assert float(hp["default/learning_rate"]) == pytest.approx(1e-2)
  # Equal settings: equal and hashable (a static jit argument / cache key).
  tx2 = gradtx.param_groups(gradtx.adamw(1e-2, weight_decay=0.1), [
      ("*bias", dict(weight_decay=0.0)), ("encoder/*", dict(learning_rate=1e-3))])
  assert tx == tx2 and hash(tx) == hash(tx2)


# --------------------------------------------------------------- other containers


class Layer(NamedTuple):
  kernel: jax.Array
  bias: jax.Array


def _list_tree():
  rng = np.random.default_rng(1)
  f = lambda *s: jnp.asarray(rng.normal(size=s), jnp.float64)
  return [f(3, 2), f(2), [f(2, 2), f(5)]]


def _namedtuple_tree():
  rng = np.random.default_rng(2)
  f = lambda *s: jnp.asarray(rng.normal(size=s), jnp.float64)
  return {"l1": Layer(f(3, 4), f(4)), "l2": Layer(f(4, 2), f(2))}


def _fill(abstract, seed):
  """Concrete float64 arrays for the `ShapeDtypeStruct` leaves of an abstract model
  (the structure of the real thing, without compiling its random initialisers)."""
  rng = np.random.default_rng(seed)
  return jax.tree.map(
      lambda x: jnp.asarray(rng.normal(size=x.shape), jnp.float64)
      if isinstance(x, jax.ShapeDtypeStruct) else x, abstract,
      is_leaf=lambda x: isinstance(x, jax.ShapeDtypeStruct))


class _LinenMLP(nn.Module):
  @nn.compact
  def __call__(self, x):
    return nn.Dense(2)(jax.nn.relu(nn.Dense(4)(x)))


class _NnxModel(nnx.Module):
  def __init__(self, rngs):
    self.encoder = nnx.Linear(3, 4, rngs=rngs)
    self.head = nnx.Linear(4, 2, rngs=rngs)


def _linen_tree():
  """A linen params dict: {'params': {'Dense_0': {'bias', 'kernel'}, 'Dense_1': ...}}."""
  return _fill(jax.eval_shape(_LinenMLP().init, jax.random.PRNGKey(0), jnp.ones((1, 3))), 3)


def _eqx_model():
  abstract = eqx.filter_eval_shape(eqx.nn.MLP, 3, 2, 4, 1, key=jax.random.PRNGKey(0))
  return _fill(abstract, 4)


def _eqx_tree():
  """An Equinox module filtered to its arrays (activations etc. become None)."""
  return eqx.filter(_eqx_model(), eqx.is_array)


def _nnx_tree():
  """nnx.state(model, nnx.Param): what nnx.Optimizer gives init/update."""
  abstract = nnx.eval_shape(lambda: _NnxModel(nnx.Rngs(0)))
  return _fill(nnx.state(abstract, nnx.Param), 5)


CONTAINERS = {
    # name: (tree, selector, expected paths, expected mask in leaf order)
    "list by_ndim": (_list_tree, gradtx.by_ndim(2), ["0", "1", "2/0", "2/1"], [1, 0, 1, 0]),
    "list by_path": (_list_tree, gradtx.by_path("2/*"), ["0", "1", "2/0", "2/1"], [0, 0, 1, 1]),
    "namedtuple *bias": (_namedtuple_tree, gradtx.by_path("*bias"),
                         ["l1/kernel", "l1/bias", "l2/kernel", "l2/bias"], [0, 1, 0, 1]),
    "namedtuple l1/* & ~bias": (_namedtuple_tree,
                                gradtx.by_path("l1/*") & ~gradtx.by_path("*bias"),
                                ["l1/kernel", "l1/bias", "l2/kernel", "l2/bias"], [1, 0, 0, 0]),
    "linen *bias": (_linen_tree, gradtx.by_path("*bias"),
                    ["params/Dense_0/bias", "params/Dense_0/kernel", "params/Dense_1/bias",
                     "params/Dense_1/kernel"], [1, 0, 1, 0]),
    "linen Dense_0 | ndim 1": (_linen_tree,
                               gradtx.by_path("params/Dense_0/*") | gradtx.by_ndim(1, 1),
                               ["params/Dense_0/bias", "params/Dense_0/kernel",
                                "params/Dense_1/bias", "params/Dense_1/kernel"], [1, 1, 1, 0]),
    "equinox *bias": (_eqx_tree, gradtx.by_path("*bias"),
                      ["layers/0/weight", "layers/0/bias", "layers/1/weight", "layers/1/bias"],
                      [0, 1, 0, 1]),
    "equinox layers/0/* | by_leaf": (
        _eqx_tree, gradtx.by_path("layers/0/*") | gradtx.by_leaf(lambda p, x: x.shape == (2,)),
        ["layers/0/weight", "layers/0/bias", "layers/1/weight", "layers/1/bias"], [1, 1, 0, 1]),
    "nnx by_ndim": (_nnx_tree, gradtx.by_ndim(2), None, [0, 1, 0, 1]),
    "nnx by_leaf": (_nnx_tree, gradtx.by_leaf(lambda p, x: x.shape == (4,)), None, [1, 0, 0, 0]),
}


@pytest.mark.parametrize("name", sorted(CONTAINERS))
def test_masks_on_containers(name):
  make, selector, paths, want = CONTAINERS[name]
  params = make()
  if paths is not None:
    assert _paths(params) == paths
  assert [bool(x) for x in jax.tree.leaves(selector(params))] == [bool(w) for w in want]
  # masked: the selected leaves follow Optax's adam on the sub-tree, the others pass through.
  final, state, _ = _run(gradtx.masked(gradtx.adam(0.1), selector), params)
  leaves0, leaves1 = jax.tree.leaves(params), jax.tree.leaves(final)
  assert jax.tree.structure(final) == jax.tree.structure(params)
  idx = [i for i, on in enumerate(want) if on]
  for i, r in zip(idx, _np_run(("adam", 0.1), [leaves0[i] for i in idx], idx)):
    np.testing.assert_allclose(leaves1[i], r, rtol=RTOL, atol=ATOL)
  for i, on in enumerate(want):
    if not on:
      np.testing.assert_allclose(leaves1[i], _np_run(("pass",), [leaves0[i]], [i])[0], rtol=1e-13)
  # freeze: the selected leaves are frozen, with no state.
  _check_freeze(params, selector, want)


def test_equinox_freeze_then_apply_to_the_module():
  """The usual Equinox pattern: filter the arrays, freeze the biases, eqx.apply_updates."""
  model = _eqx_model()
  params = eqx.filter(model, eqx.is_array)
  tx = gradtx.chain(gradtx.freeze(gradtx.by_path("*bias")), gradtx.adam(0.1))
  state = tx.init(params)
  updates, state = jax.jit(tx.update)(_grads(params), state, params)
  new_model = eqx.apply_updates(model, updates)
  assert jnp.array_equal(new_model.layers[0].bias, model.layers[0].bias)
  assert not jnp.array_equal(new_model.layers[0].weight, model.layers[0].weight)
  assert new_model.activation is model.activation


def test_by_path_on_nnx_state_matches_attribute_paths():
  params = _nnx_tree()
  assert [bool(x) for x in jax.tree.leaves(gradtx.by_path("*bias")(params))] == [1, 0, 1, 0]
  assert [bool(x) for x in jax.tree.leaves(gradtx.by_path("encoder/*")(params))] == [1, 1, 0, 0]
