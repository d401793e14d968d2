"""The compiled step's structure: kernel counts, hoisted scalars, the batched global norm.

These pin the performance design (BENCHMARKS.md) as properties of the HLO, not
as timings: per-leaf work is one kernel per output array, global scalars are
computed once per step whatever the number of leaves, and the global norm of
many small leaves is one reduction. The norm's value is checked against NumPy
in float64.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx

pytestmark = pytest.mark.skipif(jax.device_count() != 1,
                                reason="the batched norm is the single-device path")


def _tree(n: int, shape=(8, 16), dtype=jnp.float32, seed=0) -> dict:
  keys = jax.random.split(jax.random.PRNGKey(seed), n)
  return {f"w{i:03d}": jax.random.normal(k, shape).astype(dtype) for i, k in enumerate(keys)}


def _norm64(tree) -> float:
  leaves = [np.asarray(x).astype(np.complex128 if np.iscomplexobj(x) else np.float64)
            for x in jax.tree.leaves(tree)]
  return float(np.sqrt(sum(np.sum(np.abs(x) ** 2) for x in leaves)))


def _count(pattern: str, text: str) -> int:
  return len(re.findall(pattern, text))


def test_global_norm_mixed_tree_matches_numpy():
  tree = {
      "small_f32": _tree(7, (3, 5)),
      "small_bf16": _tree(5, (4,), jnp.bfloat16, seed=1),
      "small_c64": [jnp.asarray(np.arange(6).reshape(2, 3) * (1 - 2j), jnp.complex64),
                    jnp.asarray([3 + 4j, -1j], jnp.complex64)],
      "large": jnp.linspace(-1.0, 1.0, (1 << 16) + 1, dtype=jnp.float32),
      "scalar": jnp.float32(-2.5),
      "empty": jnp.zeros((0, 4), jnp.float32),
  }
  expected = _norm64(tree)
  np.testing.assert_allclose(float(gradtx.global_norm(tree)), expected, rtol=2e-6)
  np.testing.assert_allclose(float(jax.jit(gradtx.global_norm)(tree)), expected, rtol=2e-6)


def test_global_norm_many_small_leaves_is_one_reduction():
  small = _tree(64)
  text = jax.jit(gradtx.global_norm).lower(small).as_text()
  assert _count(r"stablehlo\.reduce", text) == 1
  np.testing.assert_allclose(float(gradtx.global_norm(small)), _norm64(small), rtol=1e-6)


def test_global_norm_large_leaves_are_reduced_one_by_one():
  large = _tree(3, (1 << 16) + 1)  # above the batching size: no concatenated copy
  text = jax.jit(gradtx.global_norm).lower(large).as_text()
  assert _count(r"stablehlo\.reduce", text) == 3
  assert "concatenate" not in text
  np.testing.assert_allclose(float(gradtx.global_norm(large)), _norm64(large), rtol=1e-6)


def _compiled_step(tx, params):
  def step(grads, state, params):
    updates, state = tx.update(grads, state, params)
    return state, gradtx.apply_updates(params, updates)
  grads = jax.tree.map(lambda p: 0.01 * p, params)
  return jax.jit(step, donate_argnums=(1, 2)).lower(grads, tx.init(params), params).compile()


@pytest.mark.parametrize("n", [8, 40])
def test_clip_adamw_step_is_three_kernels_per_leaf(n):
  """mu, nu and the param: one kernel each (XLA:CPU writes one array per kernel);
  the clip factor, bias corrections and schedule value add a fixed number (one more since
  the named optimizers end with `compensated_updates()`, whose step count is one scalar
  kernel; for float32 params it does no per-leaf work)."""
  tx = gradtx.chain(gradtx.clip_by_global_norm(1.0),
                    gradtx.adamw(gradtx.warmup_cosine_decay_schedule(0.0, 1e-3, 10, 100)))
  text = _compiled_step(tx, _tree(n)).as_text()
  entry = text[text.index("ENTRY"):]
  fusions = _count(r"\bfusion\(", entry)
  assert 3 * n <= fusions <= 3 * n + 11, fusions
  assert _count(r"f32\[8,16\]\{1,0\} copy\(", entry) == 0  # donated state is updated in place


def test_scalar_work_does_not_grow_with_leaves():
  """Bias corrections (expm1) and the schedule (cosine) are computed once per step."""
  tx = gradtx.chain(gradtx.clip_by_global_norm(1.0),
                    gradtx.adamw(gradtx.warmup_cosine_decay_schedule(0.0, 1e-3, 10, 100)))
  counts = []
  for n in (2, 30):
    text = _compiled_step(tx, _tree(n)).as_text()
    counts.append((_count(r"exponential-minus-one\(", text), _count(r"cosine\(", text)))
  assert counts[0] == counts[1]
  assert counts[0][0] >= 1 and counts[0][1] >= 1


@pytest.mark.parametrize("where", ["none", "small", "large", "bf16"])
def test_all_finite_joined_leaves(where):
  tree = {"small": _tree(50), "bf16": _tree(4, (3,), jnp.bfloat16), "large": _tree(1, (1 << 17,))}
  if where != "none":
    group = tree[where]
    name = sorted(group)[-1]
    group[name] = group[name].at[0].set(jnp.nan if where != "large" else jnp.inf)
  assert bool(gradtx.all_finite(tree)) == (where == "none")
  assert bool(jax.jit(gradtx.all_finite)(tree)) == (where == "none")


def test_all_finite_many_small_leaves_is_one_reduction_per_dtype():
  counts = []
  for n in (3, 60):
    tree = {"f32": _tree(n), "bf16": _tree(n, dtype=jnp.bfloat16)}
    text = jax.jit(gradtx.all_finite).lower(tree).as_text()
    counts.append(_count(r"stablehlo\.reduce", text))
  assert counts == [3, 3]  # one per dtype, and one combining the two
