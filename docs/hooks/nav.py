"""MkDocs hook: the nav's `Guides` section lists docs/guides/*.md (index.md first).

A new guide appears without editing mkdocs.yml; with no guides the section is dropped.
"""

from __future__ import annotations

from pathlib import Path


def guide_pages(docs_dir: str | Path) -> list[str]:
  """The guides, as paths relative to docs_dir: index.md first, then by name."""
  folder = Path(docs_dir) / "guides"
  pages = sorted(p.relative_to(docs_dir).as_posix() for p in folder.glob("*.md"))
  return sorted(pages, key=lambda p: (Path(p).name != "index.md", p))


def on_config(config, **kwargs):
  nav = config["nav"] or []
  guides = guide_pages(config["docs_dir"])
  for i, item in enumerate(list(nav)):
    if isinstance(item, dict) and "Guides" in item:
      if guides:
        item["Guides"] = guides
      else:
        nav.pop(i)
  return config
