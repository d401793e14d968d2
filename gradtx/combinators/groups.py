"""Parameter groups: apply a transformation to some leaves, freeze others, override per group.

Unselected leaves are `MaskedNode()` in the wrapped transformation's view (as in
Optax), so it keeps no state for them (a frozen embedding costs no Adam moments).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.combinators.hyperparams import set_hyperparams
from gradtx.core.module import static
from gradtx.core.protocol import (
  EmptyState,
  GradientTransformation,
  MaskedNode,
  StatelessTransformation,
  as_transformation,
)
from gradtx.tree_utils import masks as _masks
from gradtx.tree_utils.selection import by_path, path_str

__all__ = [
  "Masked",
  "MaskedState",
  "Partition",
  "PartitionState",
  "MultiTransformState",
  "masked",
  "partition",
  "multi_transform",
  "Freeze",
  "freeze",
  "selective_transform",
  "set_to_zero",
  "param_groups",
]


class MaskedState(NamedTuple):
  """`inner_state`: the wrapped state, with `MaskedNode()` for unselected leaves."""

  inner_state: Any


def _is_mask_fn(mask: Any) -> bool:
  """A function of the params, not a tree: callable, and so are all its leaves (an
  Equinox module of bools is callable but is a tree)."""
  flags = jax.tree.leaves(jax.tree.map(callable, mask))
  return bool(flags) and all(flags)


def _freeze_mask(mask: Any) -> Any:
  """`masks.freeze`, keeping a callable pytree of bools as a tree."""
  if mask is None or isinstance(mask, _masks.FrozenTree) or not callable(mask) or _is_mask_fn(mask):
    return _masks.freeze(mask)
  frozen = _masks.FrozenTree(None)
  leaves, frozen.treedef = jax.tree.flatten(mask)
  frozen.leaves = tuple(leaves)
  return frozen


def prefix_tree(mask: _masks.FrozenTree, tree: Any) -> Any:
  """The mask (or label) tree as given, a prefix of `tree`: not broadcast to its leaves."""
  return mask.fn(tree) if mask.fn is not None else mask.tree()


def masked_view(tree: Any, selected: Any) -> Any:
  """`tree` with each unselected subtree (`selected`: a prefix tree of bools) replaced
  by one `MaskedNode()`, as Optax's `masked` does."""
  return jax.tree.map(lambda on, sub: sub if bool(on) else MaskedNode(), selected, tree)


def merge_view(selected: Any, inner: Any, outer: Any) -> Any:
  """`inner`'s subtrees where `selected` (a prefix tree of bools), `outer`'s elsewhere."""
  return jax.tree.map(lambda on, a, b: a if bool(on) else b, selected, inner, outer)


def _has_no_leaves(params: Any) -> bool:
  """An empty tree, or a stand-in without leaves (the placeholder `tree.map_params`
  passes to `init`): there is nothing to mask."""
  return not jax.tree.leaves(params)


class Masked(GradientTransformation):
  """Applies `inner` to the leaves selected by `mask`; others pass through unchanged."""

  inner: GradientTransformation
  mask: Any = static()

  def __post_init__(self):
    object.__setattr__(self, "inner", as_transformation(self.inner))
    object.__setattr__(self, "mask", _freeze_mask(self.mask))

  def init(self, params):
    if _has_no_leaves(params):
      return MaskedState(self.inner.init(params))
    return MaskedState(self.inner.init(masked_view(params, prefix_tree(self.mask, params))))

  def update(self, updates, state, params=None, **extra_args):
    selected = prefix_tree(self.mask, updates)
    sub_params = None if params is None else masked_view(params, selected)
    new, inner_state = self.inner.update(
      masked_view(updates, selected), state.inner_state, sub_params, **extra_args
    )
    return merge_view(selected, new, updates), MaskedState(inner_state)


def masked(inner: Any, mask: Any) -> Masked:
  r"""`inner` on the leaves where `mask` is True (tree, prefix tree, callable or selector).

  $$
  u_i = \begin{cases} \text{inner}(g)_i & m_i, \\ g_i & \text{otherwise}, \end{cases}
  $$

  per leaf $i$, `inner` seeing (and keeping state for) only the selected leaves.

  Defaults: none (both arguments are required; Optax's `masked`).
  """
  return Masked(inner, mask)


class SetToZero(StatelessTransformation):
  """`u = 0`."""

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    return jax.tree.map(jnp.zeros_like, updates), state


def set_to_zero() -> SetToZero:
  r"""Replaces every update by zeros (a frozen parameter): $u_t = 0$.

  Defaults: none (no arguments; Optax's `set_to_zero`).
  """
  return SetToZero()


class PartitionState(NamedTuple):
  """`inner_states`: label -> that group's `MaskedState` (`MaskedNode()` outside the group)."""

  inner_states: dict
  _hyperparam_scopes = "inner_states"


MultiTransformState = PartitionState


class Partition(GradientTransformation):
  """`transforms[label]` on the leaves carrying that label (Optax's `multi_transform`)."""

  transforms: dict
  labels: Any = static()

  def __post_init__(self):
    object.__setattr__(
      self, "transforms", {k: as_transformation(t) for k, t in self.transforms.items()}
    )
    object.__setattr__(self, "labels", _freeze_mask(self.labels))

  def _masks(self, tree: Any) -> dict:
    """label -> prefix tree of bools: the leaves (or subtrees) carrying that label."""
    labels = prefix_tree(self.labels, tree)
    jax.tree.map(lambda label, sub: None, labels, tree)  # a prefix of the tree, else an error
    for path, label in jax.tree_util.tree_leaves_with_path(labels):
      if label not in self.transforms:
        raise ValueError(
          f"partition: leaf '{path_str(path)}' has label {label!r}, which is "
          f"not one of the transforms' labels {sorted(self.transforms, key=str)}."
        )
    return {k: jax.tree.map(lambda l, k=k: l == k, labels) for k in self.transforms}

  def init(self, params):
    if _has_no_leaves(params):
      return PartitionState({k: MaskedState(t.init(params)) for k, t in self.transforms.items()})
    masks = self._masks(params)
    return PartitionState(
      {k: MaskedState(t.init(masked_view(params, masks[k]))) for k, t in self.transforms.items()}
    )

  def update(self, updates, state, params=None, **extra_args):
    masks = self._masks(updates)
    new_states = {}
    for k, t in self.transforms.items():
      sub_params = None if params is None else masked_view(params, masks[k])
      new, inner = t.update(
        masked_view(updates, masks[k]), state.inner_states[k].inner_state, sub_params, **extra_args
      )
      new_states[k] = MaskedState(inner)
      updates = merge_view(masks[k], new, updates)
    return updates, PartitionState(new_states)


def partition(transforms: dict, param_labels: Any) -> Partition:
  r"""Routes each leaf to `transforms[label]` (Optax's `multi_transform`).

  $$
  u_i = T_{\ell(i)}(g)_i,
  $$

  with $\ell(i)$ leaf $i$'s label and each $T_\ell$ seeing (and keeping state for) only
  its own leaves. `param_labels` is a tree (or prefix) of labels or a callable
  `params -> labels`; every leaf needs a known label.

  Defaults: none (both arguments are required; Optax's `partition`).
  """
  return Partition(dict(transforms), param_labels)


multi_transform = partition


class Freeze(GradientTransformation):
  """`u = 0` on the leaves where `mask` is True (frozen); others pass through.

  The state is Optax's, `MaskedState(EmptyState())`. Inside a `chain`, the
  stages after a `Freeze` never see the frozen leaves: they get `None` there,
  so `chain(freeze(mask), adam(1e-3))` keeps no Adam moments for frozen
  parameters (Optax's `freeze` zeroes the updates but the optimizer after it
  still allocates state for them).
  """

  mask: Any = static()

  def __post_init__(self):
    object.__setattr__(self, "mask", _freeze_mask(self.mask))

  def trainable(self, tree: Any) -> Any:
    """Tree of bools like `tree`: True where the leaf is not frozen."""
    return jax.tree.map(lambda on: not on, _masks.resolve(self.mask, tree))

  def init(self, params):
    del params
    return MaskedState(EmptyState())

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    zeros = jax.tree.map(jnp.zeros_like, updates)
    return _masks.merge(self.trainable(updates), updates, zeros), state


def freeze(mask: Any) -> Freeze:
  r"""Freezes the leaves where `mask` (tree, prefix, callable or selector) is True.

  $$
  u_i = \begin{cases} 0 & m_i, \\ g_i & \text{otherwise}. \end{cases}
  $$

  The state is Optax's, `MaskedState(EmptyState())`. Inside a `chain` the stages after a
  `freeze` never see the frozen leaves (they get `None` there), so
  `chain(freeze(mask), adam(1e-3))` keeps no Adam moments for them.

  Defaults: none (`mask` is required; Optax's `freeze`).
  """
  return Freeze(mask)


def selective_transform(optimizer: Any, *, freeze_mask: Any) -> Partition:
  r"""`optimizer` on the leaves where `freeze_mask` is False, zero where it is True.

  $$
  u_i = \begin{cases} 0 & m_i, \\ \text{optimizer}(g)_i & \text{otherwise}, \end{cases}
  $$

  Optax's `partition({"train": optimizer, "freeze": set_to_zero()}, labels)`, so the
  optimizer keeps no state for frozen leaves. `freeze_mask`: a bool, a tree (or prefix)
  of bools, or a callable / selector `params -> such a tree`.

  Defaults: none (`freeze_mask` is required; Optax's `selective_transform`).
  """

  def label(frozen: Any) -> str:
    return "freeze" if frozen else "train"

  if _is_mask_fn(freeze_mask):
    mask = _freeze_mask(freeze_mask)
    labels = _Labels(lambda params: jax.tree.map(label, mask.resolve(params)), mask)
  else:
    labels = jax.tree.map(label, freeze_mask)
  return Partition({"train": optimizer, "freeze": SetToZero()}, labels)


class _Labels:
  """A labelling function that compares equal by its defining mask (for hashing)."""

  __slots__ = ("fn", "key")

  def __init__(self, fn: Any, key: Any) -> None:
    self.fn, self.key = fn, key

  def __call__(self, params: Any) -> Any:
    return self.fn(params)

  def __eq__(self, other: object) -> bool:
    return isinstance(other, _Labels) and self.key == other.key

  def __hash__(self) -> int:
    return hash(self.key)


def param_groups(transform: Any, groups: Sequence[tuple[Any, dict]]) -> Partition:
  r"""Overrides hyperparameters per group of leaves.

  $$
  u_i = T_{k(i)}(g)_i, \qquad T_k = \text{transform with overrides}_k, \qquad
  T_{\text{default}} = \text{transform},
  $$

  with $k(i)$ the first group whose selector selects leaf $i$.
  `groups` is a sequence of `(selector, overrides)`; a selector is a path
  pattern (`"*bias"`), a list of patterns, a mask, or a `gradtx.selection`
  selector. A leaf belongs to the first group that selects it, else to the
  default group, which uses `transform` unchanged:

      gradtx.param_groups(gradtx.adamw(1e-3, weight_decay=0.1), [
          ("*bias", dict(weight_decay=0.0)),
          ("encoder/*", dict(learning_rate=1e-4)),
      ])

  Defaults: none (both arguments are required; gradtx's own, PyTorch's parameter groups
  as a combinator, which Optax lacks).
  """
  selectors = tuple(_as_selector(s) for s, _ in groups)
  transforms = {"default": transform}
  for i, (_, overrides) in enumerate(groups):
    transforms[f"group{i}"] = set_hyperparams(transform, **overrides)

  def labels(params):
    masks = [_masks.resolve(s, params) for s in selectors]
    leaves, treedef = jax.tree.flatten(params)
    mask_leaves = [treedef.flatten_up_to(m) for m in masks]
    out = [
      next((f"group{i}" for i, m in enumerate(mask_leaves) if m[j]), "default")
      for j in range(len(leaves))
    ]
    return treedef.unflatten(out)

  return Partition(transforms, _Labels(labels, selectors))


def _as_selector(selector: Any) -> Any:
  if isinstance(selector, str):
    return _masks.freeze(by_path(selector))
  if isinstance(selector, (list, tuple)) and all(isinstance(s, str) for s in selector):
    return _masks.freeze(by_path(*selector))
  return _freeze_mask(selector)
