"""Smoke tests of examples/: each script runs end to end at a small size in a subprocess
(MPLBACKEND=Agg, outputs under tmp_path), exits 0, writes its PNG, and prints numbers that
show it trained (loose sanity bounds, not recorded results).

tiny_lm.py has its own test (tests/test_example_tiny_lm.py). Scripts that take more than
~20 s at their smallest size on a loaded 2-core CPU are marked slow.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TESTED_ELSEWHERE = {"tiny_lm.py": "tests/test_example_tiny_lm.py"}


def _accuracy_above(threshold):
  """Every 'test accuracy[:] N%' printed is above `threshold` percent (10% is chance)."""

  def check(stdout):
    values = [float(v) for v in re.findall(r"test accuracy:?\s+([\d.]+)%", stdout, re.I)]
    assert values and min(values) > threshold, values

  return check


def _sharded(stdout):
  diffs = [float(v) for v in re.findall(r"max \|param - single-device param\| ([\d.e+-]+)", stdout)]
  assert len(diffs) == 3 and max(diffs) < 1e-4, diffs  # the meshes train the same model
  _accuracy_above(50)(stdout)


def _torch_port(stdout):
  diff = float(re.search(r"largest \|difference\| ([\d.e+-]+)", stdout).group(1))
  assert diff < 1e-4, diff  # same weights and batches: the same loss curve


def _full_batch(stdout):
  losses = [float(v) for v in re.findall(r"loss ([\d.]+) after \d+ iterations", stdout)]
  assert len(losses) == 3 and max(losses) < 2.3, losses  # below the 10-class start log(10)


def _seed_tour(stdout):
  assert stdout.count("(jit + lax.scan)") == 1 and "Adam" in stdout, stdout


def _lr_sweep(stdout):
  assert "learning-rate sweep" in stdout and "weight-decay sweep" in stdout, stdout
  assert "agree with their vmap lane" in stdout, stdout  # the loop run equals its lane


def _cnn(stdout):
  values = [float(v) for v in re.findall(r"^\s+\w+\s+([\d.]+)%", stdout, re.M)]
  assert len(values) == 4 and min(values) > 30, values


# script, arguments (the smallest sizes the scripts accept), check, slow
CASES = [
  ("seed_tour.py", ["--epochs", "20"], _seed_tour, False),
  ("full_batch.py", ["--steps", "5"], _full_batch, True),
  # warm-up is 1-2 epochs in these scripts; cosine decay needs more steps than warm-up
  ("quickstart.py", ["--epochs", "2", "--warmup-epochs", "1"], _accuracy_above(30), True),
  ("cnn_digits.py", ["--epochs", "1"], _cnn, True),
  ("equinox_digits.py", ["--epochs", "3"], _accuracy_above(50), True),
  ("flax_digits.py", ["--api", "nnx", "--epochs", "3"], _accuracy_above(50), True),
  ("flax_digits.py", ["--api", "linen", "--epochs", "3"], _accuracy_above(50), True),
  (
    "lr_sweep.py",
    ["--n", "4", "--epochs", "1", "--repeats", "1", "--loop-runs", "1"],
    _lr_sweep,
    True,
  ),
  ("sharded_training.py", ["--epochs", "3"], _sharded, True),
  ("torch_port.py", ["--epochs", "1"], _torch_port, True),
]


def _params():
  out = []
  for script, args, check, slow in CASES:
    name = script[:-3]
    if "--api" in args:
      name += "-" + args[args.index("--api") + 1]
    marks = [pytest.mark.slow] if slow else []
    out.append(pytest.param(script, args, check, id=name, marks=marks))
  return out


@pytest.mark.parametrize("script, args, check", _params())
def test_example_runs(script, args, check, tmp_path):
  png = tmp_path / "out.png"
  env = dict(os.environ, MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1")
  proc = subprocess.run(
    [sys.executable, str(EXAMPLES / script), *args, "--out", str(png)],
    capture_output=True,
    text=True,
    timeout=900,
    cwd=tmp_path,
    env=env,
  )
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  assert png.exists() and png.stat().st_size > 10_000, sorted(os.listdir(tmp_path))
  check(proc.stdout)


def test_every_example_is_smoke_tested():
  scripts = {p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")}
  tested = {script for script, *_ in CASES} | set(TESTED_ELSEWHERE)
  assert scripts == tested, (sorted(scripts - tested), sorted(tested - scripts))
