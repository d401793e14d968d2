"""Counting fusions and kernels in a compiled step's optimized HLO (`--profile`)."""

from __future__ import annotations

import collections
import re

_TRIVIAL = {"parameter", "constant", "tuple", "get-tuple-element", "bitcast"}
_OPCODE = re.compile(r"=\s.*?\s([a-z][a-z0-9\-]*)\(")
_KIND = re.compile(r"kind=(k\w+)")
_HEADER = re.compile(r"^(ENTRY\s+)?%?([\w.\-]+)\s.*\{\s*$")
_NAME = re.compile(r"^\s*(?:ROOT\s+)?%([\w.\-]+)\s*=")
_OPERANDS = re.compile(r"%([\w.\-]+)")
_RESULT = re.compile(r"=\s+([a-z]+\d*)\[([\d,]*)\]")
_BYTES = {"pred": 1, "s8": 1, "u8": 1, "bf16": 2, "f16": 2, "s16": 2, "u16": 2, "f32": 4,
          "s32": 4, "u32": 4, "f64": 8, "s64": 8, "u64": 8, "c64": 8, "c128": 16}


def _result_bytes(line: str) -> tuple[int, int]:
  """(elements, bytes) of an instruction's array result; (0, 0) for tuples."""
  m = _RESULT.search(line)
  if not m:
    return 0, 0
  n = 1
  for d in filter(None, m.group(2).split(",")):
    n *= int(d)
  return n, n * _BYTES.get(m.group(1), 4)


def _computations(text: str) -> dict[str, list[str]]:
  """Computation name -> its instruction lines; the entry computation is keyed 'ENTRY'."""
  comps: dict[str, list[str]] = {}
  current = None
  for line in text.splitlines():
    if current is None:
      m = _HEADER.match(line)
      if m and not line.startswith("HloModule"):
        current = "ENTRY" if m.group(1) else m.group(2)
        comps[current] = []
    elif line.strip() == "}":
      current = None
    else:
      comps[current].append(line)
  return comps


def profile(text: str) -> dict:
  """Counts in an optimized HLO module (`compiled.as_text()`).

  `fusion_computations`: computations named `*fused*` (bodies of fusions; a reduction
  fused into a custom kernel has its own). `kernels`: non-trivial instructions of the
  entry computation (fusions, copies, unfused ops): roughly the kernels launched per
  step. `fusions_by_kind`: entry fusions by kind (kLoop, kInput, kCustom, ...).
  `copies`: entry `copy` instructions (extra passes over memory, usually from aliasing
  donated buffers). `array_*`: the same restricted to kernels with a non-scalar result
  or operand (the ones that stream memory; a reduction to a scalar counts); `copy_MB`: bytes written by those copies per step."""
  comps = _computations(text)
  entry = comps.get("ENTRY", [])
  opcodes = collections.Counter()
  kinds = collections.Counter()
  array_kernels = array_copies = copy_bytes = 0
  sizes: dict[str, int] = {}
  for line in entry:
    m = _OPCODE.search(line)
    if not m:
      continue
    op = m.group(1)
    opcodes[op] += 1
    elems, nbytes = _result_bytes(line)
    name = _NAME.match(line)
    if name:
      sizes[name.group(1)] = elems
    operands = _OPERANDS.findall(line[m.end():].split(")", 1)[0])
    streams = elems > 1 or any(sizes.get(o, 0) > 1 for o in operands)
    if op not in _TRIVIAL and streams:
      array_kernels += 1
      if op == "copy":
        array_copies += 1
        copy_bytes += nbytes
    if op == "fusion":
      k = _KIND.search(line)
      kinds[k.group(1) if k else "?"] += 1
  kernels = sum(n for op, n in opcodes.items() if op not in _TRIVIAL)
  return {
      "fusion_computations": sum(1 for name in comps if "fused" in name),
      "computations": len(comps),
      "entry_instructions": sum(opcodes.values()),
      "kernels": kernels,
      "fusions": opcodes.get("fusion", 0),
      "copies": opcodes.get("copy", 0),
      "array_kernels": array_kernels,
      "array_copies": array_copies,
      "copy_MB": round(copy_bytes / 1e6, 3),
      "fusions_by_kind": dict(sorted(kinds.items())),
      "entry_opcodes": dict(sorted(opcodes.items(), key=lambda kv: -kv[1])),
  }
