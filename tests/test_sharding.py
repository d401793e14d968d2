"""Optimizer state follows the params' sharding (eagerly and under jit), steps keep it.

The checks need 8 devices, so they run in a subprocess (`tests/_sharding_check.py`)
with `XLA_FLAGS=--xla_force_host_platform_device_count=8 JAX_PLATFORMS=cpu`; this
process, and the rest of the suite, keep their single device. The subprocess runs
all checks once and reports each, and each becomes one test here.
"""

from __future__ import annotations

import atexit
import json
import os
import pathlib
import subprocess
import sys

import pytest

_SCRIPT = pathlib.Path(__file__).with_name("_sharding_check.py")

_OPTIMIZERS = ["adam", "adamw", "sgd_momentum", "adagrad", "rmsprop", "clip_adamw_schedule"]
_CHECKS = ([f"{kind}[{opt}]" for opt in _OPTIMIZERS for kind in ("init_eager", "init_jit", "step")]
           + ["clip_by_global_norm_across_shards", "orbax_restore_keeps_shardings",
              "explicit_mesh[adamw]"])


def _start():
  env = dict(os.environ)
  flags = env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
  env["XLA_FLAGS"] = flags.strip()
  env["JAX_PLATFORMS"] = "cpu"
  proc = subprocess.Popen([sys.executable, str(_SCRIPT)], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  atexit.register(lambda: proc.poll() is None and proc.kill())
  return proc


# Started when pytest imports this module (collection), so that its compilations overlap
# with the other test files on a second core; under pytest-xdist, only when needed.
_PROC = None if os.environ.get("PYTEST_XDIST_WORKER") else _start()


@pytest.fixture(scope="module")
def results():
  proc = _PROC or _start()
  try:
    stdout, stderr = proc.communicate(timeout=600)
  except subprocess.TimeoutExpired:
    proc.kill()
    stdout, stderr = proc.communicate()
  lines = stdout.strip().splitlines()
  if proc.returncode != 0 or not lines:
    pytest.fail(f"sharding subprocess failed (rc={proc.returncode}):\n{stdout}\n"
                f"{stderr[-5000:]}")
  return json.loads(lines[-1])


def test_every_check_ran(results):
  assert sorted(results) == sorted(_CHECKS)


@pytest.mark.parametrize("name", _CHECKS)
def test_sharding(results, name):
  outcome = results.get(name, "did not run")
  if outcome != "ok":
    pytest.fail(f"{name}:\n{outcome}", pytrace=False)
