"""Smoke test of examples/tiny_lm.py: `--quick` runs end to end, every optimizer gets a
finite validation loss below the uniform-byte loss log(256), and the PNG is written."""

import math
import os
import subprocess
import sys

import pytest

import gradtx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _table(stdout: str) -> dict[str, str]:
  rows = {}
  for line in stdout.splitlines():
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if line.startswith("| ") and len(cells) == 4 and cells[0] not in ("optimizer",):
      rows[cells[0]] = cells[1]
  return rows


@pytest.mark.slow
def test_tiny_lm_quick(tmp_path):
  out = tmp_path / "tiny_lm.png"
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, "examples", "tiny_lm.py"), "--quick", "--no-progress",
       "--out", str(out)],
      capture_output=True, text=True, timeout=600, cwd=ROOT)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  rows = _table(proc.stdout)
  expected = ["AdamW", "Muon", "schedule-free AdamW"]
  expected += [n for n in ("SOAP", "Shampoo") if hasattr(gradtx, n.lower())]
  for prefix in expected:
    names = [n for n in rows if n.split(" (")[0] == prefix]
    assert len(names) == 1, (prefix, rows)
    loss = float(rows[names[0]])  # "not available" would fail here
    assert math.isfinite(loss) and loss < math.log(256), (names[0], loss)
  assert out.exists() and out.stat().st_size > 10_000
