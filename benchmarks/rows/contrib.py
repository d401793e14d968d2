"""Benchmark rows: Muon, schedule-free, Prodigy, D-Adaptation and SAM (`gradtx.contrib`
against `optax.contrib`, same arguments). Muon's own benchmark, on a transformer-shaped
tree and against `torch.optim.Muon`, is `benchmarks/muon.py`."""

from __future__ import annotations

from benchmarks.configs import LR, OptSpec


def _sam(lib, **kw):
  return lib.contrib.sam(lib.sgd(LR, **kw), lib.chain(lib.contrib.normalize(), lib.sgd(0.05)))


SPECS = (
    # Muon keeps one momentum per matrix leaf (vectors go to AdamW: two).
    OptSpec("muon", "contrib.muon(1e-3)", lambda lib, **kw: lib.contrib.muon(LR, **kw), 1),
    # z and the second moment.
    OptSpec("schedule_free_adamw", "contrib.schedule_free_adamw(1e-3)",
            lambda lib, **kw: lib.contrib.schedule_free_adamw(LR, **kw), 2),
    OptSpec("schedule_free_sgd", "contrib.schedule_free_sgd(1e-3)",
            lambda lib, **kw: lib.contrib.schedule_free_sgd(LR, **kw), 1),
    # m, v, s, x0 and a global reduction (two dot products) before the step.
    OptSpec("prodigy", "contrib.prodigy()", lambda lib, **kw: lib.contrib.prodigy(**kw), 4,
            norm_pass=True),
    OptSpec("dadapt_adamw", "contrib.dadapt_adamw()",
            lambda lib, **kw: lib.contrib.dadapt_adamw(**kw), 3, norm_pass=True),
    # the cached outer params, and the adversarial normalization's global norm.
    OptSpec("sam", "contrib.sam(sgd(1e-3), chain(normalize(), sgd(0.05)))", _sam, 1,
            norm_pass=True),
)
