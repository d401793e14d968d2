"""Output: the machine header and tables, as aligned text or Markdown."""

from __future__ import annotations

import datetime
import os
import platform
import sys
from typing import Any, Sequence

import jax


def _cpu_model() -> str:
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.lower().startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or "unknown"


def _version(module: str) -> str:
  try:
    return getattr(__import__(module), "__version__", "?")
  except ImportError:
    return "not installed"


def machine_info() -> dict[str, Any]:
  dev = jax.devices()[0]
  try:
    affinity = len(os.sched_getaffinity(0))
  except AttributeError:
    affinity = os.cpu_count()
  return {
      "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
      "cpu": _cpu_model(),
      "cores": os.cpu_count(),
      "usable_cores": affinity,
      "load_avg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
      "python": platform.python_version(),
      "platform": platform.platform(),
      "jax": jax.__version__,
      "jaxlib": _version("jaxlib"),
      "optax": _version("optax"),
      "gradtx": _version("gradtx"),
      "backend": jax.default_backend(),
      "device": f"{dev.platform}:{dev.device_kind} x{jax.device_count()}",
      "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
  }


def header(info: dict[str, Any], settings: dict[str, Any], markdown: bool) -> str:
  lines = [f"{k}: {v}" for k, v in info.items() if v != ""]
  lines.append("settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
  if markdown:
    return "\n".join(f"- {ln}" for ln in lines)
  return "\n".join(lines)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], markdown: bool,
          left: int = 2) -> str:
  """Rows under headers; the first `left` columns are labels (left-aligned)."""
  cells = [[_fmt(c) for c in row] for row in rows]
  if markdown:
    out = ["| " + " | ".join(headers) + " |",
           "|" + "|".join("---" if i < left else "--:" for i in range(len(headers))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in cells]
    return "\n".join(out)
  widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
            for i, h in enumerate(headers)]
  def line(r):
    return "  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
  return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in cells])


def _fmt(x: Any) -> str:
  if isinstance(x, float):
    if x != x:
      return "-"
    if abs(x) >= 100:
      return f"{x:.0f}"
    return f"{x:.3g}"
  return str(x)


def section(title: str, markdown: bool) -> str:
  return f"\n### {title}\n" if markdown else f"\n== {title} =="


def log(msg: str) -> None:
  """Progress to stderr, so that stdout holds only the report."""
  print(msg, file=sys.stderr, flush=True)
