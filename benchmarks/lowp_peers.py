"""Low-precision modes against their torch peers, step time in one process.

    PYTHONPATH=. python benchmarks/lowp_peers.py [--markdown] [--repeats 15]

The same 4 x 1024x1024 tree as `benchmarks/lowp_modes.py`, one optimizer step each
(gradtx: jitted, donated `update + apply_updates`; torch: `opt.step()` with the gradient
set), all steps interleaved round by round, median seconds. Peers: `torch.optim.AdamW`
(float32; the baseline of the torch column), bitsandbytes' `AdamW8bit` (its CPU backend,
block-wise 8-bit state, block 256), torch-optimi's `AdamW(kahan_sum=True)` on bfloat16
params. Each row gives both libraries' time relative to their own float32 AdamW, and
gradtx's time over the peer's.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks import lowp_modes, report

HEADERS = ["mode", "gradtx / gradtx f32", "peer", "peer / torch f32", "gradtx / peer"]

# gradtx mode (a row of lowp_modes.MODES) -> the torch peer's name
PAIRS = {
  "f32 params, f32 state": "torch.optim.AdamW",
  "f32 params, 8-bit state": "bitsandbytes AdamW8bit",
  "bf16 params + Kahan compensation": "optimi AdamW(kahan_sum=True)",
}


def torch_timers() -> dict:
  import bitsandbytes as bnb  # pylint: disable=import-outside-toplevel
  import optimi  # pylint: disable=import-outside-toplevel
  import torch  # pylint: disable=import-outside-toplevel

  def make(dtype, build):
    params = [torch.full(s, 0.5, dtype=dtype) for s in lowp_modes.TIMING_TREE.values()]
    for p in params:
      p.requires_grad_(True)
      p.grad = torch.full_like(p, 5e-4)
    opt = build(params)
    opt.step()  # allocate the state

    def timer():
      t = time.perf_counter()
      opt.step()
      return time.perf_counter() - t

    return timer

  kw = dict(lr=1e-3, weight_decay=0.0)
  return {
    "torch.optim.AdamW": make(torch.float32, lambda ps: torch.optim.AdamW(ps, **kw)),
    "bitsandbytes AdamW8bit": make(torch.float32, lambda ps: bnb.optim.AdamW8bit(ps, **kw)),
    "optimi AdamW(kahan_sum=True)": make(
      torch.bfloat16, lambda ps: optimi.AdamW(ps, kahan_sum=True, **kw)
    ),
  }


def rows(repeats: int = 15) -> list[list]:
  modes = {name: lowp_modes.MODES[name] for name in PAIRS}
  timers = {**lowp_modes.step_timers(modes), **torch_timers()}
  times: dict = {name: [] for name in timers}
  for _ in range(repeats):
    for name, timer in timers.items():
      times[name].append(timer())
  med = {name: float(np.median(ts)) for name, ts in times.items()}
  base, torch_base = med["f32 params, f32 state"], med["torch.optim.AdamW"]
  return [
    [
      mode,
      round(med[mode] / base, 2),
      peer,
      round(med[peer] / torch_base, 2),
      round(med[mode] / med[peer], 2),
    ]
    for mode, peer in PAIRS.items()
  ]


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--markdown", action="store_true")
  parser.add_argument("--repeats", type=int, default=15)
  args = parser.parse_args(argv)
  print(report.table(HEADERS, rows(args.repeats), args.markdown))


if __name__ == "__main__":
  main()
