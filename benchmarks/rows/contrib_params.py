"""Benchmark rows: the `optax.contrib` optimizers whose Optax states hold the params
themselves (Prodigy's `params0`, SAM's `cache`, DoG's and MADGRAD's initial point,
Mechanic's `x0`, ...), so a donating step refuses them ("donate the same buffer twice").
These rows run without donation in both libraries (`donate=False`): every step writes fresh
buffers, which costs both the same. `n_state` counts the per-leaf arrays of gradtx's state
(the floor column), not Optax's."""

from __future__ import annotations

from benchmarks.configs import LR, OptSpec


def _sam(lib, **kw):
  adv = lib.chain(lib.contrib.normalize(), lib.sgd(0.05))
  return lib.contrib.sam(lib.sgd(LR), adv, **kw)


SPECS = (
    # exp_avg, exp_avg_sq, s, params0
    OptSpec("prodigy", "contrib.prodigy()", lambda lib, **kw: lib.contrib.prodigy(**kw), 4,
            norm_pass=True, donate=False),
    # the outer and the adversarial sgd are stateless; the cache of the params
    OptSpec("sam", "contrib.sam(sgd(1e-3), chain(normalize(), sgd(0.05)))", _sam, 1,
            norm_pass=True, donate=False),
    # grads sum, |grads| sum, max |grad|, reward, initial params
    OptSpec("cocob", "contrib.cocob()", lambda lib, **kw: lib.contrib.cocob(**kw), 5,
            donate=False),
    # grad_sum_sq, s, x0
    OptSpec("madgrad", "contrib.madgrad(1e-3)",
            lambda lib, **kw: lib.contrib.madgrad(LR, **kw), 3, donate=False),
    # the initial params (the distance is a global scalar)
    OptSpec("dog", "contrib.dog()", lambda lib, **kw: lib.contrib.dog(**kw), 1,
            norm_pass=True, donate=False),
    OptSpec("dowg", "contrib.dowg()", lambda lib, **kw: lib.contrib.dowg(**kw), 1,
            norm_pass=True, donate=False),
    # Adam's two moments and x0 (the betas' scalars are global)
    OptSpec("mechanize", "contrib.mechanize(adam(1e-3))",
            lambda lib, **kw: lib.contrib.mechanize(lib.adam(LR), **kw), 3,
            norm_pass=True, donate=False),
)
