"""Plotting helpers shared by the examples: headless pyplot and saving a PNG."""

from __future__ import annotations

import os


def pyplot():
  """`matplotlib.pyplot` on the Agg backend (no screen needed), imported on first use."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  return plt


def save_figure(fig, path: str) -> None:
  """Lays out `fig`, writes it to `path` as PNG (creating the folder) and closes it."""
  fig.tight_layout()
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  fig.savefig(path, dpi=110)
  pyplot().close(fig)
