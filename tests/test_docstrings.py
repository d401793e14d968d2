"""Every public factory of a transformation, optimizer or schedule documents its update
rule as a formula and where its defaults come from.

The rule checked, for each callable in the `__all__` of `gradtx`, `gradtx.contrib` and
every submodule whose return annotation is a `GradientTransformation` or `Schedule`
subclass, for the names in `ALSO_CHECKED`, and for every public name of
`gradtx.torch_optim` and `gradtx.torch_optim.lr_scheduler` (classes and helpers included,
keyed `torch_optim.<name>`: torch's API, each with torch's update or schedule rule):

* it has a docstring with inline (`$...$`) or display (`$$ ... $$`) math, the form the
  docs site renders (mkdocstrings + pymdownx.arithmatex, generic mode);
* it has a paragraph starting `Defaults:`;
* every argument with a numeric default (int or float, not bool) is named in that
  paragraph in backticks, and the paragraph names a source (Optax, PyTorch, a paper
  "et al."/year, the reference code or the authors').

Names that do not follow it are listed in `EXCEPTIONS`, each with its reason; a stale
exception (a name that is no longer a factory) fails too.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pathlib
import pkgutil
import re
import sys
import typing

import pytest

import gradtx
import gradtx.contrib
import gradtx.torch_optim
import gradtx.torch_optim.lr_scheduler
from gradtx.core.protocol import GradientTransformation
from gradtx.schedules.base import Schedule

_WRAPS = "protocol helper: wraps a user function or an (init, update) pair, no rule of its own"

EXCEPTIONS = {
  # gradtx/core/protocol.py and combinators/combine.py: building blocks, not
  # transformations with an update rule.
  "identity": "protocol building block, u = g; gradtx/core is outside the docs-content task",
  "stateless": _WRAPS,
  "stateless_with_tree_map": _WRAPS,
  "with_extra_args_support": _WRAPS,
  "as_transformation": _WRAPS,
}

_MATH = re.compile(r"\$\$.+?\$\$|\$[^$\n]+\$", re.S)
_SOURCE = re.compile(
  r"Optax|PyTorch|torch|paper|et al\.|reference|authors|Keras|TensorFlow|\b(19|20)\d\d\b"
)


def _return_class(fn: typing.Callable) -> type | None:
  """The class a factory's return annotation names, resolved where the factory lives."""
  annotation = inspect.signature(fn).return_annotation
  if annotation is inspect.Signature.empty:
    return None
  if isinstance(annotation, str):
    namespace = dict(vars(gradtx))
    namespace.update(vars(sys.modules[fn.__module__]))
    build = getattr(inspect.unwrap(fn), "build", None)  # named optimizers
    if build is not None:
      namespace.update(build.__globals__)
    try:
      annotation = eval(annotation, namespace)  # pylint: disable=eval-used
    except Exception:  # pylint: disable=broad-except
      return None
  return annotation if isinstance(annotation, type) else None


def _modules() -> list:
  """`gradtx`, `gradtx.contrib`, then every submodule (its `__all__` may hold factories
  the top level does not re-export, e.g. `contrib.dog.scale_by_dog`)."""
  found = [gradtx, gradtx.contrib]
  for info in pkgutil.walk_packages(gradtx.__path__, "gradtx."):
    found.append(importlib.import_module(info.name))
  return found


def _torch_optim_names() -> dict[str, typing.Callable]:
  """Every name in the `__all__` of `gradtx.torch_optim` and of its `lr_scheduler` but the
  `lr_scheduler` module itself: optimizers (named-optimizer factories), schedulers,
  clipping, and the classes and helpers they return or read (`Scheduled`, `last_lr`)."""
  found = {}
  for module, prefix in (
    (gradtx.torch_optim, "torch_optim."),
    (gradtx.torch_optim.lr_scheduler, "torch_optim.lr_scheduler."),
  ):
    for name in module.__all__:
      obj = getattr(module, name)
      if not inspect.ismodule(obj):
        found[prefix + name] = obj
  return found


TORCH_OPTIM = _torch_optim_names()


# A schedule that is a plain `Module` (PSGD-Kron's default update probability).
ALSO_CHECKED = {"kron_update_probability": gradtx.kron_update_probability}


def _factories() -> dict[str, typing.Callable]:
  found: dict[str, typing.Callable] = {**ALSO_CHECKED, **TORCH_OPTIM}
  for module in _modules():
    for name in getattr(module, "__all__", ()):
      obj = getattr(module, name)
      if isinstance(obj, type) or not callable(obj) or name in found:
        continue
      if any(obj is seen for seen in found.values()):  # a torch_optim name, under its key
        continue
      cls = _return_class(obj)
      if cls is not None and issubclass(cls, (GradientTransformation, Schedule)):
        found[name] = obj
  return found


FACTORIES = _factories()


def _defaults_paragraph(doc: str) -> str | None:
  lines = doc.splitlines()
  for i, line in enumerate(lines):
    if line.strip().startswith("Defaults:"):
      block = []
      for following in lines[i:]:
        if not following.strip():
          break
        block.append(following.strip())
      return " ".join(block)
  return None


def _numeric_defaults(fn: typing.Callable) -> list[str]:
  return [
    p.name
    for p in inspect.signature(fn).parameters.values()
    if isinstance(p.default, (int, float)) and not isinstance(p.default, bool)
  ]


def problems(fn: typing.Callable) -> list[str]:
  """What the docstring of `fn` lacks, by the rule above (empty when it follows it)."""
  doc = inspect.getdoc(fn) or ""
  if not doc:
    return ["no docstring"]
  found = []
  if not _MATH.search(doc):
    found.append("no $...$ formula")
  paragraph = _defaults_paragraph(doc)
  if paragraph is None:
    return [*found, "no `Defaults:` paragraph"]
  missing = [n for n in _numeric_defaults(fn) if f"`{n}" not in paragraph]
  if missing:
    found.append(f"`Defaults:` does not name {missing}")
  if _numeric_defaults(fn) and not _SOURCE.search(paragraph):
    found.append("`Defaults:` names no source")
  return found


def test_the_enumeration_finds_the_factories():
  # The annotation-based enumeration must see the main families; if it silently found
  # nothing, every other test here would pass vacuously.
  for name in ("adam", "sgd", "scale_by_adam", "trace", "cosine_decay_schedule", "prodigy"):
    assert name in FACTORIES, name
  assert len(FACTORIES) > 120, len(FACTORIES)


def test_torch_optim_is_covered():
  # Every public torch_optim / lr_scheduler name is checked (by its `torch_optim.` key),
  # so a new one cannot slip past the rule; the private helpers found by the walk (e.g.
  # `l2_stage`) are checked too, under their own names.
  expected = {f"torch_optim.{n}" for n in gradtx.torch_optim.__all__ if n != "lr_scheduler"}
  expected |= {f"torch_optim.lr_scheduler.{n}" for n in gradtx.torch_optim.lr_scheduler.__all__}
  assert set(TORCH_OPTIM) == expected
  checked = sorted(n for n in TORCH_OPTIM if n in FACTORIES and n not in EXCEPTIONS)
  assert len(checked) >= 30, checked
  for name in ("torch_optim.Adam", "torch_optim.LBFGS", "torch_optim.lr_scheduler.OneCycleLR"):
    assert name in checked, name
  assert "l2_stage" in FACTORIES


def test_exceptions_are_current():
  stale = sorted(set(EXCEPTIONS) - set(FACTORIES))
  assert not stale, f"EXCEPTIONS names that are not public factories: {stale}"
  fixed = sorted(n for n in EXCEPTIONS if not problems(FACTORIES[n]))
  assert not fixed, f"EXCEPTIONS names whose docstrings now follow the rule: {fixed}"


@pytest.mark.parametrize("name", sorted(set(FACTORIES) - set(EXCEPTIONS)))
def test_docstring_has_formula_and_defaults_source(name):
  assert not problems(FACTORIES[name]), f"{name}: {problems(FACTORIES[name])}"


def _args_listed(doc: str) -> list[str] | None:
  """The names an `Args:` section documents, in order (None without one)."""
  match = re.search(r"^Args:\n((?:[ \t]+.*\n?)+)", doc, re.M)
  if match is None:
    return None
  return re.findall(r"^  (\*{0,2}\w+):", match.group(1), re.M)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_args_section_lists_the_signature(name):
  # Griffe (mkdocstrings) warns about, and renders wrongly, an `Args:` entry that is not a
  # parameter; a missing one leaves that parameter undocumented.
  fn = FACTORIES[name]
  listed = _args_listed(inspect.getdoc(fn) or "")
  if listed is not None:
    assert listed == list(inspect.signature(fn).parameters), name


def test_the_args_check_can_fail():
  doc = "Rule.\n\nArgs:\n  b1: decay.\n  eps: added.\n    more.\n\nReturns:\n  x.\n"
  assert _args_listed(doc) == ["b1", "eps"]
  assert _args_listed("Rule.") is None


def _unraw_docstrings_with_backslashes(source: str, name: str) -> list[str]:
  r"""Docstrings of `source` holding a backslash without an `r` prefix: in a plain string
  `\beta` is a backspace then `eta` and `\frac` a form feed then `rac`, so the formula
  would silently break."""
  found = []
  tree = ast.parse(source)
  for node in ast.walk(tree):
    if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
      first = node.body[0] if node.body else None
      if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)):
        continue
      if not isinstance(first.value.value, str):
        continue
      segment = ast.get_source_segment(source, first.value) or ""
      if "\\" in segment and segment[:1] not in "rR":
        found.append(f"{name}:{first.lineno} {getattr(node, 'name', '<module>')}")
  return found


def test_docstrings_with_backslashes_are_raw():
  package = pathlib.Path(gradtx.__file__).parent
  found = []
  for path in sorted(package.rglob("*.py")):
    found += _unraw_docstrings_with_backslashes(path.read_text(), str(path.relative_to(package)))
  assert not found, f"docstrings with a backslash that are not raw (r'''...'''): {found}"


def test_the_raw_check_can_fail():
  source = 'def f():\n  """$\\beta_1$"""\n\n\ndef g():\n  r"""$\\beta_1$"""\n'
  assert _unraw_docstrings_with_backslashes(source, "m.py") == ["m.py:2 f"]


def test_the_rule_can_fail():
  def plain(b1: float = 0.9) -> GradientTransformation:
    """Adam-like: m = b1 m + (1 - b1) g."""

  def no_source(b1: float = 0.9) -> GradientTransformation:
    r"""$m_t = \beta_1 m_{t-1}$.

    Defaults: `b1=0.9`.
    """

  def good(b1: float = 0.9, flag: bool = True) -> GradientTransformation:
    r"""$m_t = \beta_1 m_{t-1}$.

    Defaults: `b1=0.9` (Optax).
    """

  assert problems(plain) == ["no $...$ formula", "no `Defaults:` paragraph"]
  assert problems(no_source) == ["`Defaults:` names no source"]
  assert problems(good) == []
