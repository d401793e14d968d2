"""MkDocs hook: the API reference, generated from the package at build time.

Every name in `gradtx.__all__`, in each public subpackage's `__all__` and in the
namespaces (`gradtx.transforms`, `gradtx.tree`, ..., `gradtx.torch_optim.lr_scheduler`)
gets exactly one `:::` entry (mkdocstrings), at its canonical path: the module that
defines the object. Re-exports and aliases (`gradtx.adam`, `gradtx.tree.norm`,
`gradtx.multi_transform`) point at that entry: the entry lists them under
"Exported as", and the page `api/namespaces.md` links every public path to it.

Pages follow the package's floors (core, numerics, tree utilities, primitives by
concept, schedules, ...). A new name, module or primitive concept shows up without
edits here: the walk is over `__all__` and each object's `__module__`.

`api_pages()` is also what `tests/test_docs_site.py` checks.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import pkgutil
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOOKS = Path(__file__).resolve().parent

# Namespaces walked besides gradtx's own subpackages (discovered with pkgutil).
EXTRA_NAMESPACES = ("gradtx.torch_optim.lr_scheduler",)

# Page order: floors bottom up, then the namespaces on top. (prefix, page, title).
# `gradtx.primitives.<concept>` pages are added from the package's subpackages.
_PAGES = (
  ("gradtx.core", "api/core.md", "Core: protocol"),
  ("gradtx.numerics", "api/numerics.md", "Numerics"),
  ("gradtx.tree_utils", "api/tree_utils.md", "Tree utilities"),
  ("gradtx.tree", "api/tree_utils.md", "Tree utilities"),
  ("gradtx.primitives", "api/primitives/index.md", "Primitives"),
  ("gradtx.schedules", "api/schedules.md", "Schedules"),
  ("gradtx.combinators", "api/combinators.md", "Combinators"),
  ("gradtx.wrappers", "api/wrappers.md", "Wrappers"),
  ("gradtx.optimizers", "api/optimizers.md", "Optimizers"),
  ("gradtx.solvers", "api/solvers.md", "Solvers"),
  ("gradtx.transforms", "api/transforms.md", "gradtx.transforms"),
  ("gradtx.projections", "api/projections.md", "Projections"),
  ("gradtx.second_order", "api/second_order.md", "Second order"),
  ("gradtx.microbatching", "api/microbatching.md", "Microbatching"),
  ("gradtx.contrib", "api/contrib.md", "Contrib"),
  ("gradtx.torch_optim.lr_scheduler", "api/torch_optim_lr_scheduler.md",
   "torch_optim.lr_scheduler"),
  # private modules of lr_scheduler (kept apart for size): their names are schedulers
  ("gradtx.torch_optim._cyclic_lr", "api/torch_optim_lr_scheduler.md",
   "torch_optim.lr_scheduler"),
  ("gradtx.torch_optim._composite", "api/torch_optim_lr_scheduler.md",
   "torch_optim.lr_scheduler"),
  ("gradtx.torch_optim._scheduled", "api/torch_optim_lr_scheduler.md",
   "torch_optim.lr_scheduler"),
  ("gradtx.torch_optim", "api/torch_optim.md", "torch_optim"),
)
_PRIMITIVE_ORDER = ("scaling", "moments", "adaptive", "clipping", "decay", "noise",
                    "constraints", "preconditioning")


@dataclasses.dataclass
class Entry:
  """One documented object: its canonical path and every public path it has."""

  path: str
  exported_as: list[str]

  @property
  def module(self) -> str:
    return self.path.rsplit(".", 1)[0]

  @property
  def heading(self) -> str:
    """The public path readers type: the first export that keeps the object's name."""
    name = self.path.rsplit(".", 1)[1]
    same = [p for p in self.exported_as if p.rsplit(".", 1)[1] == name]
    return (same or self.exported_as)[0]


def namespaces() -> list[str]:
  """`gradtx`, its public subpackages and top-level modules, and EXTRA_NAMESPACES."""
  import gradtx

  names = ["gradtx"]
  for info in pkgutil.iter_modules(gradtx.__path__):
    if not info.name.startswith("_"):
      names.append(f"gradtx.{info.name}")
  return names + [n for n in EXTRA_NAMESPACES if n not in names]


def _walk_order(names: list[str]) -> list[str]:
  """Top level first, then Optax's namespaces, then the floors (for headings)."""
  return [n for n in _NAMESPACE_ORDER if n in names] + [
    n for n in names if n not in _NAMESPACE_ORDER]


# The namespaces users import from (Optax's, torch_optim's), before the floor packages.
_NAMESPACE_ORDER = ("gradtx", "gradtx.transforms", "gradtx.schedules", "gradtx.tree_utils",
                    "gradtx.tree", "gradtx.projections", "gradtx.second_order",
                    "gradtx.microbatching", "gradtx.contrib", "gradtx.torch_optim",
                    "gradtx.torch_optim.lr_scheduler")


@functools.cache
def _griffe_package():
  import griffe

  sys.path.insert(0, str(HOOKS))
  from griffe_gradtx import NamedOptimizerFactories

  return griffe.load("gradtx", search_paths=[str(ROOT)], resolve_aliases=True,
                     resolve_external=False,
                     extensions=griffe.load_extensions(NamedOptimizerFactories))


def resolve(path: str):
  """The object at a dotted path, importing the longest module prefix."""
  parts = path.split(".")
  for i in range(len(parts), 0, -1):
    try:
      obj = importlib.import_module(".".join(parts[:i]))
    except ImportError:
      continue
    for part in parts[i:]:
      obj = getattr(obj, part)
    return obj
  raise ImportError(path)


def canonical_path(public: str, obj) -> str:
  """Where `obj` (exported as `public`) is defined.

  Functions and classes: `__module__.__qualname__` when that is where the object
  lives; otherwise (named optimizers, whose `__module__` is the factory's) the
  static definition site (griffe), checked to be the same object. Other values
  (type aliases, constants) are named, not identified: griffe's definition site.
  """
  mod, qual = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
  is_code = isinstance(obj, (type, types.FunctionType)) or callable(obj)
  if is_code and mod and qual and mod.startswith("gradtx"):
    try:
      if resolve(f"{mod}.{qual}") is obj:
        return f"{mod}.{qual}"
    except (ImportError, AttributeError):
      pass
  member = _griffe_package()[public.removeprefix("gradtx.")]
  target = member.final_target if member.is_alias else member
  if is_code:
    try:
      found = resolve(target.path)
    except (ImportError, AttributeError):
      found = None
    if found is not obj:
      raise ValueError(f"{public}: no canonical definition found (griffe says {target.path})")
  return target.path


def entries() -> list[Entry]:
  """Every public object once, with its public paths, in walk order."""
  by_path: dict[str, Entry] = {}
  for ns in _walk_order(namespaces()):
    module = importlib.import_module(ns)
    for name in getattr(module, "__all__", ()):
      obj = getattr(module, name)
      if isinstance(obj, types.ModuleType):
        continue  # a namespace: it has its own page
      public = f"{ns}.{name}"
      path = canonical_path(public, obj)
      entry = by_path.setdefault(path, Entry(path, []))
      entry.exported_as.append(public)
  return list(by_path.values())


def _page_of(path: str) -> tuple[str, str]:
  """(page, title) for a canonical path, by the longest matching prefix."""
  parts = path.split(".")
  if parts[:2] == ["gradtx", "primitives"] and len(parts) > 3:
    concept = parts[2]
    return f"api/primitives/{concept}.md", f"Primitives: {concept.replace('_', ' ')}"
  for prefix, page, title in _PAGES:
    if path == prefix or path.startswith(prefix + "."):
      return page, title
  if len(parts) > 2:  # a new subpackage: its own page
    return f"api/{parts[1]}.md", parts[1]
  return "api/index.md", "API reference"


def page_order(pages) -> list[str]:
  """Pages in the order of the floors."""
  order = ["api/index.md"]
  for prefix, page, _ in _PAGES:
    if prefix == "gradtx.primitives":
      concepts = sorted((p for p in pages if p.startswith("api/primitives/")),
                        key=lambda p: (_rank(Path(p).stem), p))
      order += concepts
    elif page not in order:
      order.append(page)
  order.append("api/namespaces.md")
  return [p for p in order if p in pages] + sorted(p for p in pages if p not in order)


def _rank(concept: str) -> int:
  return _PRIMITIVE_ORDER.index(concept) if concept in _PRIMITIVE_ORDER else len(_PRIMITIVE_ORDER)


def _module_doc_title(module: str) -> str:
  doc = (importlib.import_module(module).__doc__ or "").strip()
  return doc.split("\n\n")[0].replace("\n", " ") if doc else ""


_INTRO = """# API reference

Generated at build time from the package: one entry per public object, at the module
that defines it, grouped as the package is built (floors, bottom up). Each entry lists
the public paths it is exported as; [every public path](namespaces.md) links to its entry.
Formulas in docstrings are rendered with KaTeX (a local copy, no network).

"""


def api_pages() -> dict[str, str]:
  """{page path under docs/: markdown} for the whole API reference."""
  grouped: dict[str, tuple[str, dict[str, list[Entry]]]] = {}
  for entry in entries():
    page, title = _page_of(entry.path)
    grouped.setdefault(page, (title, {}))[1].setdefault(entry.module, []).append(entry)
  pages: dict[str, str] = {}
  for page, (title, modules) in grouped.items():
    lines = [] if page == "api/index.md" else [f"# {title}", ""]
    for module, items in modules.items():
      lines += [f"## `{module}`", ""]
      summary = _module_doc_title(module) if module != "gradtx" else ""
      if summary:
        lines += [summary, ""]
      for entry in items:
        lines += _entry_lines(entry)
    pages[page] = "\n".join(lines)
  pages["api/index.md"] = _INTRO + _index_lines(pages) + pages.get("api/index.md", "")
  pages["api/namespaces.md"] = _namespace_page()
  return pages


def _entry_lines(entry: Entry) -> list[str]:
  short = entry.heading.rsplit(".", 1)[1]
  top = [p for p in entry.exported_as if p.rsplit(".", 1)[0] in _NAMESPACE_ORDER]
  floors = [p for p in entry.exported_as if p not in top]
  lines = [
    f"::: {entry.path}",
    "    options:",
    f"      heading: \"{entry.heading}\"",
    f"      toc_label: \"{short}\"",
    "",
    f"<!-- entry: {entry.path} -->",
  ]
  if top:  # (the first line after the marker: tests/test_docs_site.py reads these lines)
    lines.append("Exported as " + ", ".join(f"`{p}`" for p in top) + ".")
  if floors:
    lines += ["", "Floor packages: " + ", ".join(f"`{p}`" for p in floors) + "."]
  return [*lines, ""]


def _index_lines(pages: dict[str, str]) -> str:
  rows = []
  for page in page_order(pages):
    if page in ("api/index.md", "api/namespaces.md"):
      continue
    title = pages[page].split("\n", 1)[0].removeprefix("# ")
    n = pages[page].count("\n::: ")
    rows.append(f"- [{title}]({Path(page).relative_to('api').as_posix()}) ({n} entries)")
  rows.append("- [All public paths, by namespace](namespaces.md)")
  return "\n".join(rows) + "\n\n"


def _namespace_page() -> str:
  by_public = {p: e.path for e in entries() for p in e.exported_as}
  lines = ["# Public paths by namespace", "",
           "Every name in each namespace's `__all__`, linked to its one entry.", ""]
  for ns in _walk_order(namespaces()):
    module = importlib.import_module(ns)
    names = list(getattr(module, "__all__", ()))
    if not names:
      continue
    lines += [f"## `{ns}`", "", "| name | defined in |", "|---|---|"]
    for name in names:
      public = f"{ns}.{name}"
      if public in by_public:
        target = by_public[public]
        lines.append(f"| [`{name}`][{target}] | `{target.rsplit('.', 1)[0]}` |")
      else:  # a namespace module
        lines.append(f"| `{name}` | namespace `{public}` |")
    lines.append("")
  return "\n".join(lines)


# -- MkDocs events ---------------------------------------------------------------------------

_BUILT: dict[str, str] = {}


def on_config(config, **kwargs):
  """Fills the nav's `API reference` section with the generated pages."""
  pages = api_pages()
  _BUILT.clear()
  _BUILT.update(pages)  # reused by on_files
  children = []
  for page in page_order(pages):
    title = pages[page].split("\n", 1)[0].removeprefix("# ")
    children.append({"Overview" if page == "api/index.md" else title: page})
  for item in config["nav"] or []:
    if isinstance(item, dict) and "API reference" in item:
      item["API reference"] = children
  return config


def on_files(files, config, **kwargs):
  from mkdocs.structure.files import File

  for page, text in _BUILT.items():
    files.append(File.generated(config, page, content=text))
  return files
