"""Errors name the offending leaf: tree, shape and dtype mismatches, missing params,
non-array and integer leaves. Every check runs in Python while JAX traces, so each
test also runs the failing call under `jax.jit` and expects the same message.

Messages are checked for content (the leaf path, what each side has, the
transformation), not for exact wording.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx.core.validate import LeafTypeError, TreeMismatchError

factored = importlib.import_module("gradtx.primitives.adaptive.factored")
trust_ratio = importlib.import_module("gradtx.primitives.scaling.trust_ratio")
scale_by_factored_rms = factored.scale_by_factored_rms

import _reliability as R

STATEFUL = [n for n in R.NAMES if n not in R.STATELESS]


def params_tree():
  return {"a": jnp.ones(3), "b": {"c": jnp.ones((2, 2))}}


def grads_like(tree, value=0.1):
  return jax.tree.map(lambda x: jnp.full_like(x, value), tree)


def stage_names(tx) -> set[str]:
  """Class names of `tx` and of every transformation nested in it."""
  names = set()

  def visit(node):
    if isinstance(node, gradtx.GradientTransformation):
      names.add(type(node).__name__)
      if callable(getattr(node, "transformation", None)):  # a NamedOptimizer: its chain
        visit(node.transformation())
      for f in dataclasses.fields(node):
        visit(getattr(node, f.name))
    elif isinstance(node, (tuple, list)):
      for x in node:
        visit(x)
    elif isinstance(node, dict):
      for x in node.values():
        visit(x)
  visit(tx)
  return names


def call(fn, jit, *args):
  return (jax.jit(fn) if jit else fn)(*args)


def raised(exc_type, fn, *args):
  """Runs fn(*args) eagerly and under jit; returns the two messages (they must agree)."""
  messages = []
  for jit in (False, True):
    with pytest.raises(exc_type) as info:
      call(fn, jit, *args)
    messages.append(str(info.value))
  assert messages[0] == messages[1], messages
  return messages[0]


def assert_prefixed(message: str, tx, method: str) -> None:
  owner = message.split(":", 1)[0]
  cls, _, meth = owner.partition(".")
  assert meth == method and cls in stage_names(tx), (
      f"message should start with '<Transformation>.{method}:' naming one of "
      f"{sorted(stage_names(tx))}: {message}")


# --- updates against state ---------------------------------------------------------------------

@pytest.mark.parametrize("name", STATEFUL)
def test_update_with_different_tree_structure_names_both_paths(name):
  tx = R.make(name)
  params = params_tree()
  state = tx.init(params)
  bad = {"a": jnp.ones(3), "b": {"d": jnp.ones((2, 2))}}  # 'c' renamed 'd'
  msg = raised(TreeMismatchError, lambda g, s, p: tx.update(g, s, p), bad, state, params)
  assert_prefixed(msg, tx, "update")
  assert "['b']['d']" in msg and "['b']['c']" in msg, msg


@pytest.mark.parametrize("name", STATEFUL)
def test_update_with_an_extra_leaf_names_it(name):
  tx = R.make(name)
  params = params_tree()
  state = tx.init(params)
  bad = {"a": jnp.ones(3), "b": {"c": jnp.ones((2, 2)), "e": jnp.ones(2)}}
  msg = raised(TreeMismatchError, lambda g, s, p: tx.update(g, s, params), bad, state, params)
  assert_prefixed(msg, tx, "update")
  assert "['b']['e']" in msg and "3" in msg and "2" in msg, msg


SHAPE_CHECKED = [n for n in STATEFUL if n != "adafactor"]


@pytest.mark.parametrize("name", SHAPE_CHECKED)
def test_update_with_a_different_shape_names_the_leaf_and_both_shapes(name):
  tx = R.make(name)
  params = params_tree()
  state = tx.init(params)
  bad = {"a": jnp.ones(4), "b": {"c": jnp.ones((2, 2))}}
  msg = raised(TreeMismatchError, lambda g, s: tx.update(g, s, params), bad, state)
  assert_prefixed(msg, tx, "update")
  assert "['a']" in msg and "(4,)" in msg and "(3,)" in msg, msg


@pytest.mark.parametrize("tx", [gradtx.optimizers.adafactor(0.01), scale_by_factored_rms()],
                         ids=["adafactor", "scale_by_factored_rms"])
def test_factored_update_with_a_different_shape_is_refused(tx):
  params = {"a": jnp.ones(3)}
  state = tx.init(params)
  with pytest.raises(TreeMismatchError, match=r"\['a'\]"):
    tx.update({"a": jnp.ones(1)}, state, params)


@pytest.mark.parametrize("name", STATEFUL)
@pytest.mark.parametrize("bad_dtype", [jnp.int32, jnp.bool_])
def test_update_with_integer_or_bool_gradients_names_the_leaf_and_both_dtypes(name, bad_dtype):
  tx = R.make(name)
  params = params_tree()
  state = tx.init(params)
  bad = {"a": jnp.ones(3, bad_dtype), "b": {"c": jnp.ones((2, 2))}}
  msg = raised(TreeMismatchError, lambda g, s: tx.update(g, s, params), bad, state)
  assert_prefixed(msg, tx, "update")
  dtype_name = jnp.dtype(bad_dtype).name
  assert "['a']" in msg and dtype_name in msg and "float32" in msg, msg


def test_mismatch_errors_are_value_errors_and_type_errors():
  """Callers catching the builtin exception types keep working."""
  assert issubclass(TreeMismatchError, ValueError)
  assert issubclass(LeafTypeError, TypeError)


def test_chain_with_a_foreign_state_says_so():
  tx = gradtx.adam(0.1)
  params = params_tree()
  n = len(tx.transformation().transforms)  # Adam's stages and the low-precision compensation
  assert n >= 2
  with pytest.raises(ValueError, match=f"{n} transformations got a state of 1"):
    tx.update(grads_like(params), (tx.init(params)[0],), params)


# --- transformations that need params -------------------------------------------------------

NEED_PARAMS_PRIMITIVES = {
    "add_decayed_weights": (gradtx.add_decayed_weights(0.1), "add_decayed_weights"),
    "scale_by_trust_ratio": (trust_ratio.scale_by_trust_ratio(), "scale_by_trust_ratio"),
    "scale_by_param_block_rms": (factored.scale_by_param_block_rms(),
                                 "scale_by_param_block_rms"),
}


@pytest.mark.parametrize("name", sorted(NEED_PARAMS_PRIMITIVES))
def test_primitive_without_params_names_itself_and_asks_for_params(name):
  tx, owner = NEED_PARAMS_PRIMITIVES[name]
  params = params_tree()
  state = tx.init(params)
  msg = raised(ValueError, lambda g, s: tx.update(g, s), grads_like(params), state)
  assert owner in msg and "params=" in msg, msg


@pytest.mark.parametrize("name", R.NAMES)
def test_named_optimizer_without_params(name):
  """The optimizers with weight decay / trust ratio / parameter scale say which stage
  needs params; the others run without them."""
  tx = R.make(name)
  params = params_tree()
  state = tx.init(params)
  g = grads_like(params)
  if name in R.NEEDS_PARAMS:
    msg = raised(ValueError, lambda g, s: tx.update(g, s), g, state)
    stage = msg.split(" ", 1)[0]
    assert stage in {"add_decayed_weights", "scale_by_trust_ratio",
                     "scale_by_param_block_rms"}, msg
    assert "params=" in msg, msg
  else:
    updates, _ = tx.update(g, state)
    assert R.all_finite(updates)


@pytest.mark.parametrize("name", sorted(R.NEEDS_PARAMS - {"adafactor"}))
def test_params_not_matching_updates_are_named(name):
  tx = R.make(name)
  params = params_tree()
  state = tx.init(params)
  bad_params = {"a": jnp.ones(5), "b": {"c": jnp.ones((2, 2))}}
  msg = raised(TreeMismatchError, lambda g, s, p: tx.update(g, s, p),
               grads_like(params), state, bad_params)
  assert "['a']" in msg and "(5,)" in msg and "(3,)" in msg, msg


# --- apply_updates -----------------------------------------------------------------------------

def test_apply_updates_with_different_structure_names_both_paths():
  params = params_tree()
  bad = {"a": jnp.ones(3), "b": {"x": jnp.ones((2, 2))}}
  msg = raised(TreeMismatchError, gradtx.apply_updates, params, bad)
  assert "params" in msg and "updates" in msg, msg
  assert "['b']['c']" in msg and "['b']['x']" in msg, msg


def test_apply_updates_with_missing_leaf_names_it():
  params = params_tree()
  msg = raised(TreeMismatchError, gradtx.apply_updates, params, {"a": jnp.ones(3), "b": {}})
  assert "['b']['c']" in msg, msg


def test_apply_updates_with_different_shape_names_leaf_and_shapes():
  params = params_tree()
  bad = {"a": jnp.ones(3), "b": {"c": jnp.ones((2, 3))}}
  msg = raised(TreeMismatchError, gradtx.apply_updates, params, bad)
  assert "['b']['c']" in msg and "(2, 2)" in msg and "(2, 3)" in msg, msg


def test_apply_updates_with_integer_updates_names_leaf_and_dtypes():
  params = params_tree()
  bad = {"a": jnp.ones(3, jnp.int32), "b": {"c": jnp.ones((2, 2))}}
  msg = raised(TreeMismatchError, gradtx.apply_updates, params, bad)
  assert "['a']" in msg and "int32" in msg and "float32" in msg, msg


def test_apply_updates_with_a_string_update_names_it():
  params = {"a": jnp.ones(3), "s": jnp.ones(2)}
  with pytest.raises(LeafTypeError) as info:
    gradtx.apply_updates(params, {"a": jnp.ones(3), "s": "oops"})
  msg = str(info.value)
  assert "['s']" in msg and "str" in msg and "(2,)" in msg and "eqx.is_array" in msg, msg


@pytest.mark.parametrize("name", STATEFUL)
def test_update_with_a_string_gradient_names_it(name):
  tx = R.make(name)
  params = params_tree()
  state = tx.init(params)
  bad = {"a": jnp.ones(3), "b": {"c": "oops"}}
  with pytest.raises(LeafTypeError) as info:
    tx.update(bad, state, params)
  msg = str(info.value)
  assert_prefixed(msg, tx, "update")
  assert "['b']['c']" in msg and "str" in msg and "eqx.is_array" in msg, msg


def test_apply_updates_keeps_none_params():
  params = {"a": jnp.ones(3), "n": None}
  out = gradtx.apply_updates(params, {"a": jnp.ones(3), "n": None})
  assert out["n"] is None and out["a"].dtype == jnp.float32


# --- non-array and integer leaves -----------------------------------------------------------

class FrozenLike(Mapping):
  """A read-only mapping that is not a registered pytree (a leaf, like an unregistered
  FrozenDict-style container)."""

  def __init__(self, **items):
    self._items = dict(items)

  def __getitem__(self, key):
    return self._items[key]

  def __iter__(self):
    return iter(self._items)

  def __len__(self):
    return len(self._items)


NON_ARRAYS = {
    "function": (lambda x: x, "function"),
    "string": ("relu", "str"),
    "object": (object(), "object"),
    "mapping": (FrozenLike(w=jnp.ones(2)), "FrozenLike"),
}


@pytest.mark.parametrize("name", STATEFUL)
@pytest.mark.parametrize("kind", sorted(NON_ARRAYS))
def test_init_with_non_array_leaf_names_path_type_and_hint(name, kind):
  leaf, type_name = NON_ARRAYS[kind]
  tx = R.make(name)
  params = {"a": jnp.ones(3), "layer": {"act": leaf}}
  with pytest.raises(LeafTypeError) as info:
    tx.init(params)
  msg = str(info.value)
  assert_prefixed(msg, tx, "init")
  assert "['layer']['act']" in msg and type_name in msg, msg
  assert "eqx.filter(tree, eqx.is_array)" in msg, msg


def test_stateless_sgd_with_non_array_leaf_names_it():
  tx = gradtx.sgd(0.1)
  params = {"a": jnp.ones(3), "act": "relu"}
  with pytest.raises(LeafTypeError, match=r"\['act'\]"):
    state = tx.init(params)
    tx.update(params, state, params)


def test_frozendict_in_place_of_an_array_is_a_structure_mismatch_naming_the_path():
  flax_core = pytest.importorskip("flax.core")
  tx = gradtx.adam(0.1)
  params = {"a": jnp.ones(3), "b": jnp.ones(2)}
  state = tx.init(params)
  bad = {"a": jnp.ones(3), "b": flax_core.FrozenDict({"kernel": jnp.ones(2)})}
  msg = raised(TreeMismatchError, lambda g, s: tx.update(g, s, params), bad, state)
  assert "['b']" in msg and "kernel" in msg, msg


def test_frozendict_params_are_a_container_not_a_leaf():
  flax_core = pytest.importorskip("flax.core")
  tx = gradtx.adamw(0.1)
  params = flax_core.FrozenDict({"dense": {"kernel": jnp.ones((2, 3)), "bias": jnp.zeros(3)}})
  state = tx.init(params)
  updates, _ = tx.update(grads_like(params), state, params)
  new = gradtx.apply_updates(params, updates)
  assert isinstance(new, flax_core.FrozenDict)


def test_equinox_module_with_a_function_field_names_it_and_filtering_fixes_it():
  key = jax.random.PRNGKey(0)
  model = eqx.nn.Sequential([eqx.nn.Linear(2, 3, key=key), eqx.nn.Lambda(jax.nn.relu)])
  tx = gradtx.adam(0.1)
  with pytest.raises(LeafTypeError) as info:
    tx.init(model)
  msg = str(info.value)
  assert ".layers[1].fn" in msg and "eqx.is_array" in msg, msg
  params = eqx.filter(model, eqx.is_array)
  state = tx.init(params)
  updates, _ = tx.update(grads_like(params), state, params)
  new = eqx.apply_updates(model, updates)
  assert new.layers[0].weight.shape == (3, 2)


@pytest.mark.parametrize("name", STATEFUL)
@pytest.mark.parametrize("bad_dtype", [jnp.int32, jnp.uint8, jnp.bool_])
def test_integer_and_bool_params_refused_at_init_naming_the_path(name, bad_dtype):
  tx = R.make(name)
  params = {"w": jnp.ones(3), "stats": {"steps": jnp.zeros((2,), bad_dtype)}}
  msg = raised(LeafTypeError, tx.init, params)
  assert_prefixed(msg, tx, "init")
  assert "['stats']['steps']" in msg and jnp.dtype(bad_dtype).name in msg, msg
  assert "eqx.is_inexact_array" in msg and "masked" in msg, msg


def test_integer_params_refused_by_plain_sgd():
  with pytest.raises(LeafTypeError, match=r"\['steps'\]"):
    gradtx.sgd(0.1).init({"w": jnp.ones(3), "steps": jnp.zeros((2,), jnp.int32)})


def test_integer_leaves_can_be_frozen_instead():
  """The remedy the message suggests works: freeze the integer leaf."""
  params = {"w": jnp.ones(3), "steps": jnp.zeros((2,), jnp.int32)}
  tx = gradtx.chain(gradtx.freeze({"w": False, "steps": True}), gradtx.adam(0.1))
  state = tx.init(params)
  grads = {"w": jnp.ones(3), "steps": jnp.zeros((2,), jnp.int32)}
  updates, _ = tx.update(grads, state, params)
  assert np.all(np.asarray(updates["steps"]) == 0)


def test_python_int_params_are_refused():
  with pytest.raises(LeafTypeError, match=r"\['n'\].*int"):
    gradtx.adam(0.1).init({"n": 3})


def test_python_float_params_work_like_0d_arrays():
  tx = gradtx.adam(0.1)
  state = tx.init({"x": 1.0})
  updates, _ = tx.update({"x": 0.5}, state, {"x": 1.0})
  assert np.isfinite(updates["x"])


def test_prefix_names_innermost_transformation_only():
  """A chain does not add its own prefix on top of the stage's."""
  tx = gradtx.chain(gradtx.clip(1.0), gradtx.chain(gradtx.trace(0.9), gradtx.scale(-0.1)))
  params = params_tree()
  state = tx.init(params)
  msg = raised(TreeMismatchError, lambda g, s: tx.update(g, s, params),
               {"a": jnp.ones(4), "b": {"c": jnp.ones((2, 2))}}, state)
  assert re.match(r"^Trace\.update: ", msg), msg
  assert msg.count(".update:") == 1, msg
