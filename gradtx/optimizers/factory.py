"""`optimizer(build)`: the one way a named optimizer is made on this floor.

`named_optimizer` (gradtx/core/named.py) keeps a chain builder and its arguments
as data. Every named optimizer also ends with `compensated_updates()`
(gradtx/primitives/scaling/precision.py): for bfloat16/float16 params the
update is the delta that `apply_updates` applies without rounding away what is
below half an ulp (stochastic rounding for bfloat16, a float32 master copy for
float16); float32 and wider params pass through untouched, with no buffer.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from gradtx.combinators.combine import chain
from gradtx.core.named import NamedOptimizer, named_optimizer
from gradtx.core.protocol import GradientTransformation
from gradtx.primitives.scaling.precision import compensated_updates

__all__ = ["optimizer"]


class _Compensated:
  """`build` whose chain ends with `compensated_updates()`. A module-level class
  (not a closure) so named optimizers still pickle."""

  def __init__(self, build: Callable[..., GradientTransformation]) -> None:
    self.build = build
    self.__name__ = self.__qualname__ = build.__name__
    self.__doc__ = build.__doc__
    self.__signature__ = inspect.signature(build)

  def __call__(self, *args: Any, **kwargs: Any) -> GradientTransformation:
    tx = self.build(*args, **kwargs)
    return chain(*getattr(tx, "transforms", (tx,)), compensated_updates())

  def __reduce__(self):
    return (_Compensated, (self.build,))

  def __eq__(self, other: object) -> bool:
    return isinstance(other, _Compensated) and other.build is self.build

  def __hash__(self) -> int:
    return hash(self.build)


def optimizer(
  build: Callable[..., GradientTransformation], static_args: tuple[str, ...] = ()
) -> Callable[..., NamedOptimizer]:
  """The public factory of the chain builder `build` (`_adam` -> `adam`): arguments
  kept by name (`gradtx.core.named`), a final low-precision-param compensation stage."""
  return named_optimizer(_Compensated(build), static_args)
