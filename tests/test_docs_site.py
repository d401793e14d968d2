"""The documentation site (mkdocs.yml, docs/hooks/): every public name has one API entry.

The pages come from docs/hooks/api_pages.py; the checks here are independent of how it
walks the package: the namespaces are listed here by hand (plus every public subpackage),
each public path is resolved by import and compared by identity with the object its entry
documents, and an entry must sit where its object is defined (the module's source defines
the name), not at a re-export. The tests below first show that the checker fails on pages
with an entry dropped, doubled or moved to a re-export path.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

pytest.importorskip("griffe")  # the docs extra: pip install -e ".[docs]"

ROOT = Path(__file__).resolve().parents[1]
HOOKS = ROOT / "docs" / "hooks"

# Optax's namespaces and gradtx's own, as the README names them.
NAMESPACES = (
  "gradtx",
  "gradtx.transforms",
  "gradtx.schedules",
  "gradtx.tree",
  "gradtx.tree_utils",
  "gradtx.projections",
  "gradtx.second_order",
  "gradtx.microbatching",
  "gradtx.contrib",
  "gradtx.torch_optim",
  "gradtx.torch_optim.lr_scheduler",
)


def _hook(name: str) -> types.ModuleType:
  spec = importlib.util.spec_from_file_location(f"_docs_hook_{name}", HOOKS / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  sys.modules[spec.name] = module  # dataclasses look their module up there
  spec.loader.exec_module(module)
  return module


def _all_namespaces() -> list[str]:
  import gradtx

  subpackages = [
    f"gradtx.{m.name}" for m in pkgutil.iter_modules(gradtx.__path__) if not m.name.startswith("_")
  ]
  return list(dict.fromkeys([*NAMESPACES, *subpackages]))


def _resolve(path: str):
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


_ENTRY = re.compile(r"^::: (\S+)$", re.M)
_EXPORTED = re.compile(
  r"^<!-- entry: (\S+) -->\n((?:(?:Exported as|Floor packages:) .+\.\n{0,2})+)", re.M)


def _defines(module_name: str, name: str) -> bool:
  """The module's own source defines `name` (def, class or assignment at top level)."""
  source = Path(importlib.import_module(module_name).__file__).read_text()
  return re.search(rf"^(?:def |class ){re.escape(name)}\b|^{re.escape(name)}\s*[:=]", source,
                   re.M) is not None


def _is_gradtx_code(obj) -> bool:
  """A function or class of gradtx's own (told apart by identity; `Params = Any` is not)."""
  return callable(obj) and str(getattr(obj, "__module__", "")).startswith("gradtx")


def check_pages(pages: dict[str, str], namespaces: list[str]) -> list[str]:
  """Problems with the API pages: missing, doubled, misplaced or wrong entries."""
  problems = []
  entries = [p for text in pages.values() for p in _ENTRY.findall(text)]
  for path in sorted({p for p in entries if entries.count(p) > 1}):
    problems.append(f"{path}: more than one entry")
  exported = {}  # public path -> entry path
  for text in pages.values():
    for path, names in _EXPORTED.findall(text):
      for public in re.findall(r"`([^`]+)`", names):
        exported[public] = path
  for path in set(entries):
    module, name = path.rsplit(".", 1)
    if not _defines(module, name):
      problems.append(f"{path}: not where the object is defined")
  namespace_page = pages.get("api/namespaces.md", "")
  for ns in namespaces:
    module = importlib.import_module(ns)
    for name in getattr(module, "__all__", ()):
      public, obj = f"{ns}.{name}", getattr(module, name)
      if isinstance(obj, types.ModuleType):
        continue
      path = exported.get(public)
      if path is None or path not in entries:
        problems.append(f"{public}: no API entry")
        continue
      if _resolve(path) is not obj:
        problems.append(f"{public}: its entry {path} documents another object")
      elif not _is_gradtx_code(obj) and path.rsplit(".", 1)[1] != name:
        problems.append(f"{public}: its entry {path} has another name")  # values: by name
      if f"[`{name}`][{path}]" not in namespace_page:
        problems.append(f"{public}: not linked from api/namespaces.md")
  return problems


@pytest.fixture(scope="module")
def pages():
  return _hook("api_pages").api_pages()


def test_every_public_name_has_one_canonical_entry(pages):
  assert check_pages(pages, _all_namespaces()) == []


def test_checker_fails_on_a_missing_entry(pages):
  page = pages["api/optimizers.md"]
  assert "::: gradtx.optimizers.standard.adam\n" in page
  broken = dict(pages)
  broken["api/optimizers.md"] = page.replace("::: gradtx.optimizers.standard.adam\n", "")
  problems = check_pages(broken, ["gradtx"])
  assert "gradtx.adam: no API entry" in problems


def test_checker_fails_on_a_doubled_or_reexported_entry(pages):
  doubled = dict(pages, extra="::: gradtx.primitives.moments.adam.scale_by_adam\n")
  assert "gradtx.primitives.moments.adam.scale_by_adam: more than one entry" in check_pages(
    doubled, [])
  moved = dict(pages, extra="::: gradtx.transforms.clip\n")
  assert "gradtx.transforms.clip: not where the object is defined" in check_pages(moved, [])


def test_checker_fails_on_a_new_unlisted_name(pages, monkeypatch):
  import gradtx.schedules

  monkeypatch.setattr(gradtx.schedules, "__all__", [*gradtx.schedules.__all__, "brand_new"])
  monkeypatch.setattr(gradtx.schedules, "brand_new", lambda t: t, raising=False)
  assert "gradtx.schedules.brand_new: no API entry" in check_pages(pages, ["gradtx.schedules"])


def test_checker_tells_type_aliases_apart_by_name(pages):
  swapped = {k: v.replace("<!-- entry: gradtx.core.protocol.Params -->",
                          "<!-- entry: gradtx.core.protocol.Updates -->") for k, v in pages.items()}
  assert "gradtx.Params: its entry gradtx.core.protocol.Updates has another name" in check_pages(
    swapped, ["gradtx"])


def test_reexports_point_at_the_defining_module(pages):
  import gradtx

  text = "\n".join(pages.values())
  # Spot checks, written from the source tree, not from the hook.
  assert "::: gradtx.tree_utils.arithmetic.tree_add\n" in text
  assert "`gradtx.tree.add`" in text and "::: gradtx.tree.add\n" not in text
  assert "::: gradtx.optimizers.standard.adam\n" in text and "::: gradtx.adam\n" not in text
  assert gradtx.multi_transform is gradtx.partition
  assert "::: gradtx.combinators.groups.multi_transform\n" not in text


def test_named_optimizers_are_functions_with_their_docstring():
  griffe_gradtx = _hook("griffe_gradtx")
  import griffe

  import gradtx

  pkg = griffe.load("gradtx", search_paths=[str(ROOT)], resolve_aliases=False,
                    extensions=griffe.load_extensions(griffe_gradtx.NamedOptimizerFactories))
  adam = pkg["optimizers.standard.adam"]
  assert adam.is_function
  assert [p.name for p in adam.parameters][:3] == ["learning_rate", "b1", "b2"]
  assert adam.docstring.value == inspect.cleandoc(gradtx.adam.__doc__)


def test_every_schedule_is_plotted_or_listed():
  import gradtx.schedules

  plots = _hook("schedule_plots")
  examples = plots._examples()
  assert set(examples).isdisjoint(plots.NOT_PLOTTED)
  assert set(examples) | plots.NOT_PLOTTED == set(gradtx.schedules.__all__)
  import numpy as np

  for name, curves in examples.items():
    for label, schedule in curves:
      values = np.asarray([schedule(t) for t in (0, 100, 999)], dtype=np.float64)
      assert np.all(np.isfinite(values)), (name, label)


def test_guides_nav_lists_every_guide(tmp_path):
  nav = _hook("nav")
  (tmp_path / "guides").mkdir()
  for name in ("b.md", "index.md", "a.md"):
    (tmp_path / "guides" / name).write_text("# x\n")
  assert nav.guide_pages(tmp_path) == ["guides/index.md", "guides/a.md", "guides/b.md"]


def math_problems(doc: str) -> list[str]:
  """Docstring text that cannot render: control characters (a LaTeX command in a non-raw
  string, `"\\beta"` written as `"\beta"`) and an unpaired `$` outside code."""
  problems = [f"control character {c!r}" for c in re.findall(r"[\x00-\x08\x0b-\x1f]", doc)]
  text = re.sub(r"`[^`]*`", "", re.sub(r"\$\$.*?\$\$", "", doc, flags=re.S))
  if text.count("$") % 2:
    problems.append("unpaired $")
  return problems


def test_math_checker_fails_on_broken_math():
  assert math_problems("$\x08eta_1$") == ["control character '\\x08'"]
  assert math_problems("cost $5 and $x$") == ["unpaired $"]
  assert math_problems("$$a$$ and `$HOME` and $x$") == []


def test_docstring_math_renders(pages):
  problems = []
  for text in pages.values():
    for path in _ENTRY.findall(text):
      doc = getattr(_resolve(path), "__doc__", None)
      if isinstance(doc, str) and not isinstance(_resolve(path), str):
        problems += [f"{path}: {p}" for p in math_problems(doc)]
  assert problems == []


@pytest.mark.slow
def test_site_builds_strict_with_every_entry_and_plot(tmp_path, pages):
  """`mkdocs build --strict` (warnings fail it); every entry has its anchor in the HTML."""
  pytest.importorskip("mkdocs")
  site = tmp_path / "site"
  result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d",
                           str(site)], cwd=ROOT, capture_output=True, text=True, timeout=900)
  assert result.returncode == 0, result.stderr[-3000:]
  for page, text in pages.items():
    folder = page.removesuffix("index.md" if page.endswith("/index.md") else ".md")
    html = (site / folder / "index.html").read_text()
    for path in _ENTRY.findall(text):
      assert f'id="{path}"' in html, (page, path)
  api_schedules = (site / "api" / "schedules" / "index.html").read_text()
  topic_schedules = (site / "schedules" / "index.html").read_text()
  for name in _hook("schedule_plots")._examples():
    assert (site / "assets" / "schedules" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert f'src="../../assets/schedules/{name}.png"' in api_schedules, name
    assert f'src="../assets/schedules/{name}.png"' in topic_schedules, name
  assert (site / "assets" / "katex" / "katex.min.js").exists()
  assert 'class="arithmatex"' in (site / "index.html").read_text()  # the home page's formula
  if shutil.which("node"):  # every formula of the site parses with the site's KaTeX copy
    math = subprocess.run(["node", str(HOOKS / "check_math.js"), str(site)], capture_output=True,
                          text=True, timeout=300)
    assert math.returncode == 0, math.stdout[-3000:]
