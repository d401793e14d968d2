"""`gradtx.tree_utils` / `gradtx.tree` against Optax's functions of the same name, in
float64 on random trees (nested dicts, lists, NamedTuples, 0-d leaves, mixed shapes,
complex leaves), plus leaf-path errors, `None` leaves, jit and vmap."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from gradtx import tree_utils as tu
from gradtx.core.validate import TreeMismatchError

pytestmark = pytest.mark.usefixtures("x64")
RTOL = 1e-12


class Pair(NamedTuple):
  first: object
  second: object


def _tree(seed: int, complex_leaf: bool = False):
  rng = np.random.default_rng(seed)
  f = lambda *s: jnp.asarray(rng.normal(size=s))
  tree = {"dense": {"w": f(4, 3), "b": f(3)}, "blocks": [f(2, 2, 2), f()],
          "pair": Pair(f(5), f())}
  if complex_leaf:
    tree["z"] = f(3) + 1j * f(3)
  return tree


def _close(a, b, rtol=RTOL):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    assert jnp.shape(x) == jnp.shape(y)
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=1e-300)


def test_two_spellings_are_one_implementation():
  public = sorted(n for n in dir(optax.tree) if not n.startswith("_") and callable(
      getattr(optax.tree, n)))
  assert sorted(gradtx.tree.__all__) == public
  for name in public:
    assert getattr(gradtx.tree, name) is getattr(tu, "tree_" + name)
  optax_names = {n for n in dir(optax.tree_utils) if n.startswith("tree_")} - {
      "tree_scalar_mul", "tree_add_scalar_mul", "tree_l1_norm", "tree_l2_norm",
      "tree_linf_norm"}
  assert optax_names <= set(tu.__all__)
  assert "NamedTupleKey" in tu.__all__


@pytest.mark.parametrize("name", ["tree_add", "tree_sub", "tree_mul", "tree_div"])
@pytest.mark.parametrize("complex_leaf", [False, True])
def test_binary(name, complex_leaf):
  x, y = _tree(0, complex_leaf), _tree(1, complex_leaf)
  _close(getattr(tu, name)(x, y), getattr(optax.tree_utils, name)(x, y))


def test_add_many_scale_add_scale_where():
  x, y, z = _tree(0), _tree(1), _tree(2)
  _close(tu.tree_add(x, y, z), optax.tree_utils.tree_add(x, y, z))
  _close(tu.tree_scale(0.3, x), optax.tree_utils.tree_scale(0.3, x))
  _close(tu.tree_add_scale(x, -1.7, y), optax.tree_utils.tree_add_scale(x, -1.7, y))
  for cond in (True, False, jnp.asarray(True)):
    _close(tu.tree_where(cond, x, y), optax.tree_utils.tree_where(cond, x, y))


@pytest.mark.parametrize("name", ["tree_conj", "tree_real"])
def test_unary_complex(name):
  x = _tree(3, complex_leaf=True)
  _close(getattr(tu, name)(x), getattr(optax.tree_utils, name)(x))


def test_clip_and_creation():
  x = _tree(4)
  for lo, hi in ((None, 0.5), (-0.2, None), (-0.3, 0.3)):
    _close(tu.tree_clip(x, lo, hi), optax.tree_utils.tree_clip(x, lo, hi))
  _close(tu.tree_zeros_like(x), optax.tree_utils.tree_zeros_like(x))
  _close(tu.tree_ones_like(x, jnp.float32), optax.tree_utils.tree_ones_like(x, jnp.float32))
  _close(tu.tree_full_like(x, 2.5), optax.tree_utils.tree_full_like(x, 2.5))
  _close(tu.tree_batch_shape(x, (2, 3)), optax.tree_utils.tree_batch_shape(x, (2, 3)))
  assert jax.tree.leaves(tu.tree_ones_like(x, jnp.float32))[0].dtype == jnp.float32


@pytest.mark.parametrize("complex_leaf", [False, True])
def test_reductions(complex_leaf):
  x, y = _tree(5, complex_leaf), _tree(6, complex_leaf)
  o = optax.tree_utils
  _close(tu.tree_vdot(x, y), o.tree_vdot(x, y))
  _close(tu.tree_sum(x), o.tree_sum(x))
  _close(tu.tree_sum(x, associative_reduction=True), o.tree_sum(x))
  assert tu.tree_size(x) == o.tree_size(x)
  for ord_ in (None, 1, 2, jnp.inf, "inf"):
    for squared in (False, True):
      _close(tu.tree_norm(x, ord_, squared), o.tree_norm(x, ord_, squared))
  if not complex_leaf:
    _close(tu.tree_max(x), o.tree_max(x))
    _close(tu.tree_min(x), o.tree_min(x))
  assert bool(tu.tree_allclose(x, x)) and not bool(tu.tree_allclose(x, y))


def test_reduction_edge_cases():
  for tree in ({}, (), [], None, {"key": [None, [None]]}):
    assert tu.tree_sum(tree) == 0 and tu.tree_vdot(tree, tree) == 0
  tree = [jnp.ones([2, 3]), jnp.zeros([4, 0, 5])]
  assert tu.tree_min(tree) == 1.0 and tu.tree_max(tree) == 1.0
  assert tu.tree_max([]) == -jnp.inf and tu.tree_min([]) == jnp.inf
  ints = {"a": jnp.arange(5, dtype=jnp.int8), "b": jnp.asarray(3, jnp.int32)}
  assert tu.tree_sum(ints) == optax.tree_utils.tree_sum(ints)
  with pytest.raises(ValueError, match="ord"):
    tu.tree_norm(ints, ord=3)


def test_many_small_leaves_reduce_like_optax():
  rng = np.random.default_rng(7)
  tree = [jnp.asarray(rng.normal(size=(rng.integers(1, 5),))) for _ in range(300)]
  tree.append(jnp.asarray(rng.normal(size=(300, 300))))  # a large leaf, reduced in place
  _close(tu.tree_norm(tree), optax.tree_utils.tree_norm(tree))
  _close(tu.tree_sum(tree), optax.tree_utils.tree_sum(tree))
  _close(tu.tree_max(tree), optax.tree_utils.tree_max(tree))


@pytest.mark.parametrize("complex_leaf", [False, True])
def test_moments(complex_leaf):
  g, m = _tree(8, complex_leaf), jax.tree.map(jnp.abs, _tree(9, complex_leaf))
  o = optax.tree_utils
  for order in (1, 2, 3):
    _close(tu.tree_update_moment(g, m, 0.9, order), o.tree_update_moment(g, m, 0.9, order))
    _close(tu.tree_update_moment_per_elem_norm(g, m, 0.99, order),
           o.tree_update_moment_per_elem_norm(g, m, 0.99, order))
  if not complex_leaf:
    _close(tu.tree_update_infinity_moment(g, m, 0.9, 1e-3),
           o.tree_update_infinity_moment(g, m, 0.9, 1e-3))
  for count in (1, 7, jnp.asarray(1000)):
    _close(tu.tree_bias_correction(m, 0.999, count), o.tree_bias_correction(m, 0.999, count),
           rtol=1e-10)


def test_bias_correction_low_precision_stays_finite_and_typed():
  m = jnp.logspace(-10, 10, num=21, dtype=jnp.bfloat16)
  for decay in (0.9, 0.999, 0.9995):
    for count in (1, 10, 1000):
      out = tu.tree_bias_correction(m, decay, count)
      assert out.dtype == jnp.bfloat16 and bool(jnp.all(jnp.isfinite(out)))


def test_none_leaves_are_skipped():
  m = {"a": jnp.ones(3), "b": jnp.arange(2.0)}
  masked = {"a": None, "b": jnp.ones(2)}
  for fn in (lambda t: tu.tree_add_scale(t, 2.0, m),
             lambda t: tu.tree_update_moment(t, m, 0.9, 2),
             lambda t: tu.tree_update_infinity_moment(t, m, 0.9, 0.0),
             lambda t: tu.tree_update_moment_per_elem_norm(t, m, 0.9, 2)):
    out = fn(masked)
    assert out["a"] is None and out["b"].shape == (2,)
  assert tu.tree_add_scale(None, 1, m) is None


def test_casting():
  x = _tree(10)
  other = jax.tree.map(lambda v: v.astype(jnp.float32), x)
  other["pair"] = Pair(other["pair"].first.astype(jnp.bfloat16), other["pair"].second)
  got, want = tu.tree_cast_like(x, other), optax.tree_utils.tree_cast_like(x, other)
  assert [a.dtype for a in jax.tree.leaves(got)] == [a.dtype for a in jax.tree.leaves(want)]
  assert all(a.dtype == jnp.float16 for a in jax.tree.leaves(tu.tree_cast(x, jnp.float16)))
  assert tu.tree_cast(x, None) is x
  mixed = {"a": jnp.ones(2, jnp.float16), "b": jnp.ones(2, jnp.float32)}
  for handler in ("promote", "highest", "lowest"):
    assert tu.tree_dtype(mixed, handler) == optax.tree_utils.tree_dtype(mixed, handler)
  assert tu.tree_dtype({}) == optax.tree_utils.tree_dtype({})
  with pytest.raises(ValueError, match=r"\['b'\]"):
    tu.tree_dtype(mixed)
  with pytest.raises(ValueError, match="not ordered"):
    tu.tree_dtype({"a": jnp.ones(1, jnp.int32), "b": jnp.ones(1, jnp.uint32)}, "highest")
  with pytest.raises(ValueError, match="mixed_dtype_handler"):
    tu.tree_dtype(mixed, "median")


@pytest.mark.slow
def test_random():
  x = _tree(11)
  key = jax.random.key(3)
  _close(tu.tree_unwrap_random_key_data(tu.tree_split_key_like(key, x)),
         optax.tree_utils.tree_unwrap_random_key_data(optax.tree_utils.tree_split_key_like(key, x)))
  _close(tu.tree_random_like(key, x), optax.tree_utils.tree_random_like(key, x))
  uni = lambda k, s, d: jax.random.uniform(k, s, d)
  _close(tu.tree_random_like(key, x, uni, jnp.float32),
         optax.tree_utils.tree_random_like(key, x, uni, jnp.float32))


def _state():
  opt = gradtx.chain(gradtx.scale_by_adam(), gradtx.add_decayed_weights(1e-2))
  return opt, opt.init(_tree(12))


def _keyed(found):
  return [(jax.tree_util.keystr(p), v) for p, v in found]


def test_get_set_match_optax_on_a_gradtx_state():
  _, state = _state()
  for key in ("count", "mu", "ScaleByAdamState"):
    got = tu.tree_get_all_with_path(state, key)
    want = optax.tree_utils.tree_get_all_with_path(state, key)
    assert [p for p, _ in got] == [p for p, _ in want]  # Optax's NamedTupleKey compares equal
    assert _keyed(got)[0][0] == _keyed(want)[0][0]
    _close([v for _, v in got], [v for _, v in want])
  assert tu.tree_get(state, "absent", default=7) == 7
  only_adam = lambda path, _: isinstance(path[-1], tu.NamedTupleKey) and (
      path[-1].tuple_name == "ScaleByAdamState")
  assert int(tu.tree_get(state, "count", filtering=only_adam)) == 0
  new = tu.tree_set(state, count=jnp.asarray(5))
  _close(new, optax.tree_utils.tree_set(state, count=jnp.asarray(5)))
  with pytest.raises(KeyError, match="absent"):
    tu.tree_set(state, absent=1)
  nested = {"z": {"lr": 1, "k": Pair({"lr": 4}, 5)}, "a": [{"lr": 2}], "lr": 3}
  assert tu.tree_get_all_with_path(nested, "lr") == optax.tree_utils.tree_get_all_with_path(
      nested, "lr")
  # every value tree_get finds is replaced (Optax 0.2.8 skips those below a list, or below a
  # NamedTuple inside a dict that itself holds the key; see docs/differences.md)
  replaced = tu.tree_set(nested, lr=0)
  assert [v for _, v in tu.tree_get_all_with_path(replaced, "lr")] == [0, 0, 0, 0]
  assert replaced["z"]["k"].second == 5 and jax.tree.structure(replaced) == jax.tree.structure(
      nested)
  dup = {"a": {"lr": 1.0}, "lr": 2.0}
  with pytest.raises(KeyError, match="lr"):
    tu.tree_get(dup, "lr")


def test_map_params_on_gradtx_states_matches_optax():
  opt, state = _state()
  specs = jax.tree.map(lambda v: v.ndim, _tree(12))
  got = tu.tree_map_params(opt, lambda _, s: s, state, specs, transform_non_params=lambda _: -1)
  want = optax.tree_utils.tree_map_params(opt, lambda _, s: s, state, specs,
                                          transform_non_params=lambda _: -1)
  assert got == want
  assert got[0].mu == specs and got[0].count == -1
  plus_one = tu.tree_map_params(opt.init, lambda v: v + 1, state)
  _close(plus_one[0].mu, jax.tree.map(lambda v: v + 1, state[0].mu))


def test_errors_name_the_leaf_path():
  x, y = _tree(13), _tree(14)
  y["dense"]["b"] = jnp.ones(4)
  with pytest.raises(TreeMismatchError, match=r"\['dense'\]\['b'\].*\(3,\).*\(4,\)"):
    tu.tree_add(x, y)
  z = _tree(15)
  del z["blocks"]
  with pytest.raises(TreeMismatchError, match="blocks"):
    tu.tree_vdot(x, z)
  with pytest.raises(TreeMismatchError, match=r"pair.*second|\['pair'\]"):
    tu.tree_update_moment(x, {**x, "pair": Pair(x["pair"].first, jnp.ones(2))}, 0.9, 2)
  with pytest.raises(ValueError, match="scalar"):
    tu.tree_scale(jnp.ones(3), x)


def test_jit_and_vmap():
  x, y = _tree(16), _tree(17)
  _close(jax.jit(tu.tree_norm)(x), optax.tree_utils.tree_norm(x))
  _close(jax.jit(tu.tree_vdot)(x, y), optax.tree_utils.tree_vdot(x, y))
  scales = jnp.asarray([0.5, 2.0])
  got = jax.vmap(lambda s: tu.tree_add_scale(x, s, y))(scales)
  for i, s in enumerate([0.5, 2.0]):
    _close(jax.tree.map(lambda v: v[i], got), optax.tree_utils.tree_add_scale(x, s, y))
  grad = jax.grad(lambda t: tu.tree_norm(t, squared=True))(x)
  _close(grad, jax.tree.map(lambda v: 2 * v, x))


class _Buffered(NamedTuple):
  count: object
  mu: object
  buffer: object


def test_map_params_keeps_none_leaves_of_param_shaped_state():
  params = {"w": jnp.ones(2), "b": jnp.asarray(1.0)}

  def init(p):  # a state whose `buffer` keeps nothing for the leaf "b"
    return _Buffered(jnp.zeros([], jnp.int32), jax.tree.map(jnp.zeros_like, p),
                     jax.tree_util.tree_map_with_path(
                         lambda path, x: None if "b" in jax.tree_util.keystr(path) else x, p))
  state = init(params)
  specs = {"w": "row", "b": "replicated"}
  got = tu.tree_map_params(init, lambda _, s: s, state, specs, transform_non_params=str)
  assert got.mu == specs and got.buffer == {"w": "row", "b": None} and got.count == "0"
