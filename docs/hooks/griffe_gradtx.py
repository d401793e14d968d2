"""Griffe extension: named optimizers read as the functions they are.

`adam = optimizer(_adam)` (gradtx/optimizers/) is, to a static reader, an
attribute without a docstring. At run time `gradtx.adam` is a function with
`_adam`'s signature and docstring (`functools.wraps`). This extension gives
the static API the same view: the attribute becomes a function named `adam`
with the builder's parameters, return annotation and docstring.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

# `name = optimizer(_builder, ...)` or `name = named_optimizer(_builder, ...)`.
_FACTORY = re.compile(r"^(?:optimizer|named_optimizer)\((_\w+)\b")


class NamedOptimizerFactories(griffe.Extension):
  """Replaces `name = optimizer(_name)` attributes by functions."""

  def on_module_members(self, *, mod: griffe.Module, **kwargs: Any) -> None:
    for name, member in list(mod.members.items()):
      if member.is_alias or not member.is_attribute or member.value is None:
        continue
      match = _FACTORY.match(str(member.value))
      if not match:
        continue
      builder = mod.members.get(match.group(1))
      if builder is None or builder.is_alias or not builder.is_function:
        continue
      function = griffe.Function(
        name,
        lineno=member.lineno,
        endlineno=member.endlineno,
        parameters=builder.parameters,
        returns=builder.returns,
      )
      if builder.docstring is not None:
        function.docstring = griffe.Docstring(
          builder.docstring.value,
          lineno=builder.docstring.lineno,
          endlineno=builder.docstring.endlineno,
          parent=function,
        )
      function.labels.add("named-optimizer")
      mod.set_member(name, function)
