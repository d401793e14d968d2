"""Every ```python block of README.md and docs/**/*.md runs.

Blocks of one page run in order in one shared namespace, like a notebook, with the working
directory set to a temporary folder (pages may write checkpoints or pictures). A block that
cannot run here is preceded by a `<!-- no-run: reason -->` comment; every such marker must be
listed in `NO_RUN` below with the same reason, so a skipped block is a decision made here, not
in passing. Pages that take more than ~20 s are in `SLOW`.
"""

from __future__ import annotations

import linecache
import os
import pathlib
import re

import jax
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])

# (page, reason) -> number of blocks on that page skipped for that reason.
NO_RUN: dict[tuple[str, str], int] = {
  (
    "docs/ecosystem.md",
    "needs 8 devices (examples/sharded_training.py runs this on 8 virtual CPUs)",
  ): 1,
  ("docs/ecosystem.md", "needs a multi-process cluster (jax.distributed)"): 1,
  ("docs/guides/07-sharding.md", "needs a multi-process cluster (jax.distributed)"): 1,
  (
    "docs/porting_from_pytorch.md",
    "deliberately partial: a side-by-side PyTorch / gradtx comparison",
  ): 1,
  ("docs/solvers.md", "deliberately partial: the call's signature, run in full below"): 1,
}

# Pages whose blocks take more than ~20 s on a loaded 2-core CPU.
SLOW: set[str] = set()

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*(\S*)[^\n]*$")
_NO_RUN = re.compile(r"<!--\s*no-run:\s*(.*?)\s*-->")


def _blocks(path: pathlib.Path):
  """Yields (first line number, code, no-run reason or None) for each python block."""
  lines = path.read_text().splitlines()
  i, last_text = 0, ""
  while i < len(lines):
    m = _FENCE.match(lines[i])
    if not m:
      if lines[i].strip():
        last_text = lines[i]
      i += 1
      continue
    indent, fence, lang = m.groups()
    body, j = [], i + 1
    while j < len(lines) and not lines[j].strip().startswith(fence):
      body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
      j += 1
    if lang == "python":
      skip = _NO_RUN.search(last_text)
      yield i + 2, "\n".join(body) + "\n", skip.group(1) if skip else None
    last_text, i = "", j + 1


def _rel(path: pathlib.Path) -> str:
  return path.relative_to(ROOT).as_posix()


def _params():
  out = []
  for page in PAGES:
    if not any(True for _ in _blocks(page)):
      continue
    marks = [pytest.mark.slow] if _rel(page) in SLOW else []
    out.append(pytest.param(page, id=_rel(page), marks=marks))
  return out


_CONFIG = ("jax_enable_x64", "jax_default_matmul_precision", "jax_numpy_rank_promotion")


@pytest.mark.parametrize("page", _params())
def test_page_code_runs(page, tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  monkeypatch.setenv("MPLBACKEND", "Agg")
  saved = {k: getattr(jax.config, k) for k in _CONFIG}
  namespace = {"__name__": "__docs__"}
  ran = 0
  try:
    for line, code, skip in _blocks(page):
      if skip is not None:
        continue
      name = f"{_rel(page)}, block at line {line}"
      # Blank lines in front, so tracebacks give the line number in the page.
      source = "\n" * (line - 1) + code
      linecache.cache[name] = (len(source), None, source.splitlines(True), name)
      exec(compile(source, name, "exec"), namespace)
      ran += 1
  finally:
    for k, v in saved.items():
      jax.config.update(k, v)
  assert ran > 0, f"{_rel(page)}: every python block is marked no-run"


def test_no_run_markers_are_listed():
  found: dict[tuple[str, str], int] = {}
  for page in PAGES:
    for _, _, skip in _blocks(page):
      if skip is not None:
        key = (_rel(page), skip)
        found[key] = found.get(key, 0) + 1
  assert found == NO_RUN, "no-run markers in the pages differ from NO_RUN in this test"
  assert all(reason for _, reason in found), "a no-run marker needs a reason"


def test_pages_found():
  names = {_rel(p) for p in PAGES}
  assert "README.md" in names and "docs/numerics.md" in names, names
  assert os.path.isdir(ROOT / "docs" / "guides")


def _table_rows(path: pathlib.Path):
  """Yields (optimizer name, defaults cell) of the guide's tables."""
  for line in path.read_text().splitlines():
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    m = re.fullmatch(r"`(\w+)`", cells[0]) if len(cells) == 4 else None
    if m:
      yield m.group(1), cells[2]


def test_optimizer_guide_defaults_match_signatures():
  """Every named optimizer has a row; every `name=value` default in a row is the factory's."""
  import ast
  import inspect

  import gradtx
  from gradtx import optimizers

  rows = dict(_table_rows(ROOT / "docs" / "guides" / "03-optimizers.md"))
  missing = sorted(set(optimizers.__all__) - set(rows))
  assert not missing, f"optimizers without a row in the guide: {missing}"
  for name, cell in rows.items():
    signature = inspect.signature(getattr(gradtx, name))
    for arg, text in re.findall(r"`(\w+)=([^`]+)`", cell):
      assert arg in signature.parameters, f"{name}: no argument {arg!r}"
      want = signature.parameters[arg].default
      assert ast.literal_eval(text) == want and type(ast.literal_eval(text)) is type(want), (
        f"{name}: the guide says {arg}={text}, the signature {arg}={want!r}"
      )
