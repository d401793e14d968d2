"""Benchmark rows: the rest of `optax.contrib` (`gradtx.contrib` against `optax.contrib`, same
arguments). Optimizers whose Optax state holds the params themselves (cocob, madgrad, dog,
dowg, mechanize) are left out: the donating harness refuses Optax's aliased buffers."""

from __future__ import annotations

from benchmarks.configs import LR, OptSpec


SPECS = (
    OptSpec("acprop", "contrib.acprop(1e-3)", lambda lib, **kw: lib.contrib.acprop(LR, **kw), 2),
    OptSpec("adopt", "contrib.adopt(1e-3)", lambda lib, **kw: lib.contrib.adopt(LR, **kw), 2),
    OptSpec("ademamix", "contrib.ademamix(1e-3)",
            lambda lib, **kw: lib.contrib.ademamix(LR, **kw), 3),
    OptSpec("simplified_ademamix", "contrib.simplified_ademamix(1e-3)",
            lambda lib, **kw: lib.contrib.simplified_ademamix(LR, **kw), 2),
)
