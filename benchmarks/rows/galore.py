"""Benchmark rows: GaLore (`gradtx.contrib.galore` against `optax.contrib.galore`, same
arguments, Adam base). `galore` times the steps between projector refreshes (the harness's
steps run at counts 2.., so with `update_proj_gap=200` none recomputes the SVD);
`galore_svd` (`update_proj_gap=1`) recomputes every projector on every step."""

from __future__ import annotations

from benchmarks.configs import LR, OptSpec

# n_state=2: the floor counts Adam's two moments at full size; GaLore's are r x max(m, n)
# on the projected leaves, so the floor overstates its ideal traffic there.
SPECS = (
    OptSpec("galore", "contrib.galore(1e-3, rank=16)",
            lambda lib, **kw: lib.contrib.galore(LR, rank=16, **kw), 2),
    OptSpec("galore_svd", "contrib.galore(1e-3, rank=16, update_proj_gap=1)",
            lambda lib, **kw: lib.contrib.galore(LR, rank=16, update_proj_gap=1, **kw), 2),
)
