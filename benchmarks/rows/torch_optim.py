"""Benchmark rows: `gradtx.torch_optim` optimizers against the Optax call with the same
numbers (`python -m benchmarks.bench --optimizers torch_adam,torch_sgd,...`). The gradtx
side is the torch_optim port; the Optax side is the nearest Optax optimizer (identical
update rule for these rows)."""

from __future__ import annotations

from benchmarks.configs import LR, OptSpec


def _row(name: str, torch_kwargs: dict, optax_build, n_state: int) -> OptSpec:
  def build(lib, **kw):
    if kw:
      raise TypeError(f"torch_optim rows take no extra arguments, got {sorted(kw)}")
    if lib.__name__ == "gradtx":
      from gradtx import torch_optim
      return getattr(torch_optim, name)(**torch_kwargs)
    return optax_build(lib)
  args = ", ".join(f"{k}={v!r}" for k, v in torch_kwargs.items())
  return OptSpec(f"torch_{name.lower()}", f"torch_optim.{name}({args})", build, n_state)


SPECS = (
    _row("SGD", {"lr": LR, "momentum": 0.9}, lambda lib: lib.sgd(LR, momentum=0.9), 1),
    _row("Adam", {"lr": LR}, lambda lib: lib.adam(LR), 2),
    _row("AdamW", {"lr": LR}, lambda lib: lib.adamw(LR, weight_decay=1e-2), 2),
    _row("RMSprop", {"lr": LR}, lambda lib: lib.rmsprop(LR, decay=0.99, eps_in_sqrt=False), 1),
    _row("Adamax", {"lr": LR}, lambda lib: lib.adamax(LR), 2),
)
