"""Benchmark rows: MARS, LaProp, cautious AdamW and an EMA of the params (gradtx), each against
Optax's `adamw(1e-3)` as the peer (Optax has none of them), so the ratio is the overhead over
plain AdamW. PSGD-Kron is not timed here: its peer (psgd_jax) is not an Optax namespace."""

from __future__ import annotations

from benchmarks.configs import LR, OptSpec


def _is_gradtx(lib) -> bool:
  return lib.__name__.split(".")[0] == "gradtx"


def _or_adamw(make):
  """`make(gradtx)` for gradtx, Optax's `adamw(1e-3)` for the peer."""
  return lambda lib, **kw: make(lib, **kw) if _is_gradtx(lib) else lib.adamw(LR)


SPECS = (
    # m, v and the previous gradient.
    OptSpec("mars", "mars(1e-3) vs optax.adamw(1e-3)", _or_adamw(
        lambda lib, **kw: lib.mars(LR, **kw)), 3, default=False),
    OptSpec("laprop", "laprop(1e-3) vs optax.adamw(1e-3)", _or_adamw(
        lambda lib, **kw: lib.laprop(LR, **kw)), 2, default=False),
    # a mean over each leaf of the mask, besides AdamW's two moments.
    OptSpec("cautious_adamw", "cautious(adamw(1e-3)) vs optax.adamw(1e-3)", _or_adamw(
        lambda lib, **kw: lib.cautious(lib.adamw(LR, **kw))), 2, default=False),
    # AdamW's moments and the averaged params.
    OptSpec("ema_adamw", "chain(adamw(1e-3), ema_params(0.999)) vs optax.adamw(1e-3)", _or_adamw(
        lambda lib, **kw: lib.chain(lib.adamw(LR, **kw), lib.ema_params(0.999))), 3,
            default=False),
)
