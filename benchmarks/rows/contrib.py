"""Benchmark rows: Muon, schedule-free and D-Adaptation (`gradtx.contrib`
against `optax.contrib`, same arguments). Muon's own benchmark, on a transformer-shaped
tree and against `torch.optim.Muon`, is `benchmarks/muon.py`."""

from __future__ import annotations

from benchmarks.configs import LR, OptSpec


SPECS = (
    # Muon keeps one momentum per matrix leaf (vectors go to AdamW: two).
    OptSpec("muon", "contrib.muon(1e-3)", lambda lib, **kw: lib.contrib.muon(LR, **kw), 1),
    # z and the second moment.
    OptSpec("schedule_free_adamw", "contrib.schedule_free_adamw(1e-3)",
            lambda lib, **kw: lib.contrib.schedule_free_adamw(LR, **kw), 2),
    OptSpec("schedule_free_sgd", "contrib.schedule_free_sgd(1e-3)",
            lambda lib, **kw: lib.contrib.schedule_free_sgd(LR, **kw), 1),
    # prodigy and sam are timed in benchmarks/muon.py (without donation): Optax's states hold
    # the params themselves (prodigy's params0, sam's cache), which the donating harness
    # here refuses ("donate the same buffer twice"); gradtx's hold copies.
    OptSpec("dadapt_adamw", "contrib.dadapt_adamw()",
            lambda lib, **kw: lib.contrib.dadapt_adamw(**kw), 3, norm_pass=True),
)
