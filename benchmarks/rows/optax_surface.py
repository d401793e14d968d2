"""Benchmark rows: the Optax surface's new optimizers (`gradtx.X` against `optax.X`, same
arguments). `n_state` counts the per-leaf state arrays shaped like the params."""

from __future__ import annotations

import warnings

from benchmarks.configs import LR, OptSpec


def _optimistic_adam(lib, **kw):
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    return lib.optimistic_adam(LR, **kw)


SPECS = (
    OptSpec("yogi", "yogi(1e-3)", lambda lib, **kw: lib.yogi(LR, **kw), 2),
    # per-axis accumulators (small) and the momentum.
    OptSpec("sm3", "sm3(1e-3)", lambda lib, **kw: lib.sm3(LR, **kw), 1),
    # momentum; one scalar second moment per leaf.
    OptSpec("novograd", "novograd(1e-3)", lambda lib, **kw: lib.novograd(LR, **kw), 1),
    # m, v, n and the previous gradient.
    OptSpec("adan", "adan(1e-3)", lambda lib, **kw: lib.adan(LR, **kw), 4),
    OptSpec("adamaxw", "adamaxw(1e-3)", lambda lib, **kw: lib.adamaxw(LR, **kw), 2),
    OptSpec("fromage", "fromage(1e-3)", lambda lib, **kw: lib.fromage(LR, **kw), 0),
    # step sizes and the previous update.
    OptSpec("rprop", "rprop(1e-3)", lambda lib, **kw: lib.rprop(LR, **kw), 2),
    OptSpec("sign_sgd", "sign_sgd(1e-3)", lambda lib, **kw: lib.sign_sgd(LR, **kw), 0),
    OptSpec("signum", "signum(1e-3)", lambda lib, **kw: lib.signum(LR, **kw), 1),
    OptSpec("noisy_sgd", "noisy_sgd(1e-3, key=0)",
            lambda lib, **kw: lib.noisy_sgd(LR, key=0, **kw), 0),
    OptSpec("optimistic_gradient_descent", "optimistic_gradient_descent(1e-3)",
            lambda lib, **kw: lib.optimistic_gradient_descent(LR, **kw), 1),
    OptSpec("optimistic_adam", "optimistic_adam(1e-3)", _optimistic_adam, 3),
    OptSpec("optimistic_adam_v2", "optimistic_adam_v2(1e-3)",
            lambda lib, **kw: lib.optimistic_adam_v2(LR, **kw), 3),
)
