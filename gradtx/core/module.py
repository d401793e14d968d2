"""`Module`: a frozen dataclass that is a pytree of its numeric hyperparameters.

Every gradtx transformation and schedule is a `Module`. Its fields split in two:

* **leaves** -- numbers (learning rate, betas, eps, schedule values, ...) and
  nested modules. They are pytree children, so passing an optimizer through
  `jax.jit` makes them traced arguments (a new learning rate never recompiles)
  and `jax.vmap` can map over them (hyperparameter sweeps).
* **static** -- fields declared with `static()` (flags, dtypes, masks) and any
  plain Python callable (a user's `lambda` schedule). They go into the treedef,
  so changing them does recompile, as it must.

`__init__`/`__post_init__` (validation) run only when a user builds a module;
`jax.tree_util` rebuilds modules without calling them, so validation never
sees tracers created by JAX transformations of an existing module.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

import jax
import jax.core  # `jax.core.Tracer`: jax imports the submodule but does not export it
import numpy as np

if TYPE_CHECKING:
  from typing_extensions import Self, dataclass_transform
else:
  try:
    from typing import dataclass_transform
  except ImportError:  # Python 3.10: the decorator only informs type checkers

    def dataclass_transform(**kwargs):
      del kwargs
      return lambda cls: cls


__all__ = ["Module", "static"]


def static(default: Any = dataclasses.MISSING, **kwargs: Any) -> Any:
  """Declares a dataclass field that is part of the treedef, not a leaf.

  Pass the default by keyword, `static(default=None)`: type checkers (PEP 681 field
  specifiers) only see a default given as `default=` or `default_factory=`.
  """
  metadata = dict(kwargs.pop("metadata", {}), static=True)
  return dataclasses.field(default=default, metadata=metadata, **kwargs)


def _is_leaf_value(value: Any) -> bool:
  """Values stored as pytree children; plain functions are kept static."""
  return isinstance(value, Module) or not callable(value)


@dataclass_transform(
  frozen_default=True, eq_default=False, field_specifiers=(static, dataclasses.field)
)
class Module:
  """Base class: subclasses become frozen dataclasses registered as pytrees."""

  # Set on each subclass by `__init_subclass__` (the dataclass decorator, then the pytree split).
  __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
  _static_names: ClassVar[tuple[str, ...]]
  _dynamic_names: ClassVar[tuple[str, ...]]

  def __init_subclass__(cls, **kwargs: Any) -> None:
    super().__init_subclass__(**kwargs)
    dataclasses.dataclass(frozen=True, eq=False, repr=True)(cls)
    fields = dataclasses.fields(cls)
    cls._static_names = tuple(f.name for f in fields if f.metadata.get("static"))
    cls._dynamic_names = tuple(f.name for f in fields if not f.metadata.get("static"))
    jax.tree_util.register_pytree_with_keys(
      cls, cls._flatten_with_keys, cls._unflatten, cls._flatten
    )

  # -- pytree protocol -------------------------------------------------------

  def _split(self) -> tuple[list[tuple[str, Any]], tuple]:
    children, aux = [], []
    for name in self._dynamic_names:
      value = getattr(self, name)
      if _is_leaf_value(value):
        children.append((name, value))
      else:
        aux.append((name, value))
    static_items = tuple((n, getattr(self, n)) for n in self._static_names)
    return children, (tuple(n for n, _ in children), tuple(aux), static_items)

  def _flatten(self):
    children, aux = self._split()
    return [v for _, v in children], aux

  def _flatten_with_keys(self):
    children, aux = self._split()
    return [(jax.tree_util.GetAttrKey(n), v) for n, v in children], aux

  @classmethod
  def _unflatten(cls, aux, children):
    names, dynamic_aux, static_items = aux
    obj = object.__new__(cls)
    for name, value in zip(names, children):
      object.__setattr__(obj, name, value)
    for name, value in dynamic_aux + static_items:
      object.__setattr__(obj, name, value)
    return obj

  # -- value semantics -------------------------------------------------------

  def _key(self) -> tuple:
    leaves, treedef = jax.tree_util.tree_flatten(self)
    return treedef, tuple(_LeafKey(leaf) for leaf in leaves)

  def __eq__(self, other: object) -> bool:
    if type(self) is not type(other):
      return NotImplemented
    return self._key() == other._key()  # type: ignore[union-attr]

  def __hash__(self) -> int:
    return hash(self._key())

  def replace(self, **changes: Any) -> Self:
    """Returns a copy with some fields changed (runs validation again)."""
    return dataclasses.replace(self, **changes)


class _LeafKey:
  """Hashable, comparable view of a leaf (Python scalar or concrete array)."""

  __slots__ = ("leaf",)

  def __init__(self, leaf: Any) -> None:
    self.leaf = leaf

  def _concrete(self) -> np.ndarray | None:
    if isinstance(self.leaf, jax.core.Tracer):
      return None
    return np.asarray(self.leaf)

  def __eq__(self, other: object) -> bool:
    if not isinstance(other, _LeafKey):
      return NotImplemented
    a, b = self._concrete(), other._concrete()
    if a is None or b is None:
      return self.leaf is other.leaf
    return a.dtype == b.dtype and a.shape == b.shape and bool(np.all(a == b))

  def __hash__(self) -> int:
    a = self._concrete()
    if a is None:
      return id(self.leaf)
    return hash((a.shape, str(a.dtype), a.tobytes()))
