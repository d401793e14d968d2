"""CI step: Optax's own shipped tests, run with gradtx substituted at every public path.

    python .ci/optax_suite.py [--workers N] [--only SUBSTRING] [--update]

Runs the `*_test.py` files of the installed Optax (its losses, assignment, perturbations
and experimental packages excluded: gradtx does not mirror them) under the
`gradtx_as_optax` plugin, then checks the outcome against `.ci/optax_suite_expected.txt`:

* every failing test must be listed there as a deliberate, documented divergence
  (a line `node-id-prefix  # reason`; the reason points to docs/differences.md);
* every Optax name in scope must be substituted, unless listed there as `missing NAME`.

Exits 1 on an unexpected failure or missing name (and says which), 0 otherwise. Listed
entries that no longer fail are reported as stale, so the list stays honest. `--update`
prints the lines the list would need for the current outcome (to review, not to paste
blindly).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
EXPECTED = HERE / "optax_suite_expected.txt"
EXCLUDED = ("/losses/", "/assignment/", "/perturbations/", "/experimental/")


def test_files(only: str | None) -> list[str]:
  import optax
  root = pathlib.Path(optax.__file__).parent
  files = sorted(str(p) for p in root.rglob("*_test.py"))
  files = [f for f in files if not any(part in f for part in EXCLUDED)]
  return [f for f in files if only is None or only in f]


def read_expected() -> tuple[list[str], set[str]]:
  failures, missing = [], set()
  for line in EXPECTED.read_text().splitlines():
    entry = line.split("#", 1)[0].strip()
    if not entry:
      continue
    if entry.startswith("missing "):
      missing.add(entry.split(None, 1)[1])
    else:
      failures.append(entry)
  return failures, missing


def short(nodeid: str) -> str:
  """The node id from `optax/` on (the site-packages prefix differs between machines)."""
  index = nodeid.find("optax/")
  return nodeid[index:] if index >= 0 else nodeid


def run(files: list[str], workers: int) -> dict:
  with tempfile.TemporaryDirectory() as tmp:
    report = os.path.join(tmp, "report.json")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
               GRADTX_SUITE_REPORT=report)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "gradtx_as_optax",
               "-W", "ignore", "--rootdir", tmp, "-c", os.devnull, "-o", "addopts="]
    if workers > 1:
      command += ["-n", str(workers)]
    result = subprocess.run(command + files, cwd=tmp, env=env, capture_output=True, text=True)
    tail = result.stdout.strip().splitlines()[-1:] if result.stdout.strip() else []
    if not os.path.exists(report):
      print(result.stdout[-3000:], result.stderr[-3000:], sep="\n")
      raise SystemExit("optax suite: pytest did not run to the end (see above)")
    with open(report) as f:
      outcome = json.load(f)
  outcome["summary"] = tail[0] if tail else ""
  return outcome


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workers", type=int, default=2)
  parser.add_argument("--only", default=None, help="only test files whose path contains this")
  parser.add_argument("--update", action="store_true", help="print the expected-list lines")
  parser.add_argument("--report-only", action="store_true",
                      help="print unexpected failures and missing names but exit 0")
  args = parser.parse_args()
  files = test_files(args.only)
  outcome = run(files, args.workers)
  failed = sorted({short(n) for n in outcome["failed"]})
  allowed, allowed_missing = read_expected()
  unexpected = [n for n in failed if not any(n.startswith(a) for a in allowed)]
  stale = [a for a in allowed if not any(n.startswith(a) for n in failed)]
  missing = [m for m in outcome["missing"] if m not in allowed_missing]
  print(f"optax suite: {len(files)} test files; {len(outcome['substituted'])} Optax names "
        f"substituted by gradtx, {len(outcome['missing'])} missing; pytest: {outcome['summary']}")
  if args.update:
    print("\n".join([*(f"{n}  # TODO reason" for n in failed),
                     *(f"missing {m}  # TODO reason" for m in outcome["missing"])]))
    return 0
  for name in missing:
    print(f"UNEXPECTED missing name: {name}")
  for nodeid in unexpected:
    print(f"UNEXPECTED failure: {nodeid}")
  if args.only is None:
    for entry in stale:
      print(f"stale entry (no longer fails; remove it from {EXPECTED.name}): {entry}")
  ok = not unexpected and not missing
  print("optax suite: OK (every failure is a documented divergence)" if ok else
        f"optax suite: FAILED ({len(unexpected)} unexpected failures, {len(missing)} missing names)"
        + (" [--report-only: not failing the run]" if args.report_only else ""))
  return 0 if ok or args.report_only else 1


if __name__ == "__main__":
  sys.exit(main())
