"""pytest plugin: run Optax's shipped tests against gradtx.

Loaded by `.ci/optax_suite.py` with `-p gradtx_as_optax`. At configure time, before any
test module is imported, every public Optax function (in `optax`, `optax.contrib`,
`optax.schedules`, `optax.transforms`, `optax.tree`, `optax.tree_utils`,
`optax.projections`, `optax.second_order`, `optax.microbatching`) for which gradtx has a
function of the same name at the same path replaces Optax's, both in the public namespace
and in the private module that defines it (tests import either). Classes are left alone
(Optax's own remaining code builds its states with them), except `MultiSteps`, which users
construct directly.

Environment:
  GRADTX_SUITE_REPORT  path of a JSON file written at the end: the names substituted, the
                       names gradtx lacks, and the node ids of failed tests.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys
import types

NAMESPACES = ("", "contrib", "schedules", "transforms", "tree", "tree_utils", "projections",
              "second_order", "microbatching")
# Optax namespaces gradtx does not mirror (losses are not optimizers).
EXCLUDED_PARTS = {"losses", "assignment", "perturbations", "experimental"}
CLASSES = {"MultiSteps"}

_state = {"substituted": [], "missing": [], "failed": set()}


def _public_functions(module: types.ModuleType, losses: set[str]):
  for name in sorted(dir(module)):
    if name.startswith("_"):
      continue
    value = getattr(module, name)
    if isinstance(value, types.ModuleType) or not callable(value):
      continue
    if inspect.isclass(value) and name not in CLASSES:
      continue
    defining = getattr(value, "__module__", "") or ""
    if not defining.startswith("optax"):
      continue
    if EXCLUDED_PARTS & set(defining.split(".")) or (module.__name__ == "optax" and name in losses):
      continue
    yield name, value, defining


def _gradtx_counterpart(gradtx: types.ModuleType, namespace: str, name: str):
  target = gradtx
  for part in filter(None, namespace.split(".")):
    target = getattr(target, part, None)
    if target is None:
      return None
  value = getattr(target, name, None)
  return value if callable(value) else None


def pytest_configure(config):
  del config
  import gradtx
  import optax
  losses = {n for n in dir(importlib.import_module("optax.losses")) if not n.startswith("_")}
  for namespace in NAMESPACES:
    module = importlib.import_module(f"optax.{namespace}" if namespace else "optax")
    for name, theirs, defining in _public_functions(module, losses):
      label = f"{module.__name__}.{name}"
      ours = _gradtx_counterpart(gradtx, namespace, name)
      if ours is None:
        _state["missing"].append(label)
        continue
      setattr(module, name, ours)
      private = sys.modules.get(defining)
      own_name = getattr(theirs, "__name__", name)
      if private is not None and getattr(private, own_name, None) is theirs:
        setattr(private, own_name, ours)
      _state["substituted"].append(label)


def pytest_runtest_logreport(report):
  if report.failed:
    # Node ids of files outside the rootdir lose their path; put it back.
    nodeid = report.nodeid
    if nodeid.startswith("::"):
      nodeid = report.location[0] + nodeid
    _state["failed"].add(nodeid)


def pytest_sessionfinish(session, exitstatus):
  del exitstatus
  path = os.environ.get("GRADTX_SUITE_REPORT")
  if not path or hasattr(session.config, "workerinput"):  # only the xdist controller writes
    return
  with open(path, "w") as f:
    json.dump({"substituted": sorted(set(_state["substituted"])),
               "missing": sorted(set(_state["missing"])),
               "failed": sorted(_state["failed"])}, f, indent=1)
