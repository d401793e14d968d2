"""The extra-arguments protocol of the solvers, and `value_and_grad_from_state`.

Solvers that evaluate the objective take, besides `(updates, state, params)`, the
keyword arguments `value` (the objective at `params`), `grad` (its gradient there)
and `value_fn` (the objective itself), Optax's protocol. Any further keyword
argument is passed on to `value_fn` if it names one of `value_fn`'s parameters
(e.g. a batch `x=..., y=...`); one that names none of them is an error.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from gradtx.solvers._tree import cast_like
from gradtx.tree_utils.state import tree_get

__all__ = ["value_and_grad_from_state"]


def require_objective(owner: str, **given: Any) -> None:
  """Raises a TypeError naming every one of `given` (e.g. `value`, `grad`, `value_fn`)
  that is None, and how to pass it; runs at trace time."""
  missing = [name for name, v in given.items() if v is None]
  if missing:
    names = ", ".join(f"`{name}`" for name in missing)
    raise TypeError(
      f"{owner}.update needs the keyword argument(s) {names}: call "
      f"update(grads, state, params, {', '.join(f'{n}=...' for n in given)}) with "
      "value = value_fn(params, ...), grad = its gradient and value_fn the objective "
      "(see gradtx.value_and_grad_from_state)."
    )
  if "value_fn" in given and not callable(given["value_fn"]):
    raise TypeError(f"{owner}.update: value_fn={given['value_fn']!r} is not callable.")


def split_fn_kwargs(owner: str, value_fn: Callable, extra_args: dict) -> dict:
  """The keyword arguments of `extra_args` that `value_fn` accepts; a TypeError lists
  the others (a misspelt batch argument would otherwise be dropped silently)."""
  try:
    parameters = inspect.signature(value_fn).parameters
  except (TypeError, ValueError):  # builtins without a signature: pass everything
    return dict(extra_args)
  if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
    return dict(extra_args)
  unused = sorted(k for k in extra_args if k not in parameters)
  if unused:
    raise TypeError(
      f"Unexpected keyword arguments passed to `{owner}.update`. These arguments were not "
      f"consumed by `value_fn`: {unused}. Ensure that all extra keyword arguments are "
      "accepted by `value_fn`."
    )
  return dict(extra_args)


def _single_field(state: Any, name: str) -> Any:
  try:
    found = tree_get(state, name)
  except KeyError:
    raise KeyError(
      f"value_and_grad_from_state: the state holds several entries called "
      f"`{name}` (several line searches?); expected exactly one."
    ) from None
  if found is None:
    raise ValueError(
      f"value_and_grad_from_state: no `{name}` in the optimizer state. Use a solver that "
      "stores it (scale_by_zoom_linesearch, lbfgs, or scale_by_backtracking_linesearch("
      "..., store_grad=True))."
    )
  return found


def value_and_grad_from_state(value_fn: Callable[..., jax.Array]) -> Callable[..., tuple]:
  """`jax.value_and_grad(value_fn)` that reuses the value and gradient a line search
  stored in the optimizer state: `value, grad = vg(params, *args, state=opt_state, **kw)`.

  The line search already evaluated the objective and its gradient at the point it
  accepted, which are the next step's params; this returns them instead of computing
  them again. Where the stored value is not finite (the initial state holds `inf`)
  `value_fn` is evaluated (`lax.cond`, so under `jit` only one branch runs). Errors:
  ValueError if the state stores no `value`/`grad`, KeyError if it stores several
  (Optax's behaviour).
  """
  vg = jax.value_and_grad(value_fn)

  def value_and_grad(params: Any, *fn_args: Any, state: Any, **fn_kwargs: Any) -> tuple:
    value, grad = _single_field(state, "value"), _single_field(state, "grad")
    stored = (value, grad)
    return jax.lax.cond(
      jnp.isfinite(value),
      lambda p, a, kw: stored,
      lambda p, a, kw: cast_like(vg(p, *a, **kw), stored),
      params,
      fn_args,
      fn_kwargs,
    )

  return value_and_grad
