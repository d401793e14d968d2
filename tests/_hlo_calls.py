"""Which custom calls a compiled step runs on every call: those reachable from the entry
computation without entering a branch of a `conditional` (test_shampoo, test_soap check
that eigh / QR run only on refresh steps)."""

import re

_HEADER = re.compile(r"^(ENTRY\s+)?%([\w.\-]+)\s.*\{\s*$")
_BRANCHES = re.compile(r"branch_computations=\{([^}]*)\}|(?:true|false)_computation=%([\w.\-]+)")
_CALLS = re.compile(r"(?:calls|to_apply|body|condition)=%([\w.\-]+)")
_TARGET = re.compile(r'custom_call_target="([^"]+)"')


def _computations(text):
  comps, current = {}, None
  for line in text.splitlines():
    m = _HEADER.match(line)
    if m and not line.startswith("HloModule"):
      current = "ENTRY" if m.group(1) else m.group(2)
      comps[current] = []
    elif current is not None and line.strip() == "}":
      current = None
    elif current is not None:
      comps[current].append(line)
  return comps


def custom_calls(text):
  """(custom-call targets run on every call, those only inside some conditional branch);
  a `while` loop counts as the target "while"."""
  comps = _computations(text)
  always, seen, todo, branches = set(), set(), ["ENTRY"], set()
  while todo:
    name = todo.pop()
    if name in seen or name not in comps:
      continue
    seen.add(name)
    for line in comps[name]:
      always.update(_TARGET.findall(line) + ["while"] * (" while(" in line))
      todo.extend(_CALLS.findall(line))
      for group, single in _BRANCHES.findall(line):
        branches.update(re.findall(r"%([\w.\-]+)", group) if group else [single])
  inside = set()
  for name, lines in comps.items():
    if name not in seen:
      for line in lines:
        inside.update(_TARGET.findall(line) + ["while"] * (" while(" in line))
  assert branches, "no conditional in the compiled step"
  return always, inside
