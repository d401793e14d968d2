"""What is benchmarked: optimizers built identically in gradtx and Optax, and param trees.

An optimizer spec builds the same transformation from either library module
(`gradtx` or `optax`, which share names and argument order) and states the
ideal single-pass memory traffic of one step: the per-leaf state arrays that
are read and written besides `p` and `g`, and whether a global-norm reduction
over `g` is needed first (one extra read of `g`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import numpy as np

LR = 1e-3


@dataclasses.dataclass(frozen=True)
class OptSpec:
  name: str
  label: str
  build: Callable[..., Any]  # (lib, **gradtx_only_kwargs) -> GradientTransformation
  n_state: int  # per-leaf state arrays (read and written once each)
  norm_pass: bool = False  # an extra read of g for a global norm
  default: bool = True  # in the default run; rows from benchmarks/rows/ run when named
  # False: the step does not donate opt_state and params (for peers whose states hold the
  # params themselves, e.g. Optax's prodigy `params0`, which donation refuses).
  donate: bool = True

  @property
  def ideal_traffic(self) -> tuple[int, int]:
    """(arrays read, arrays written) per leaf by an ideal fused step."""
    return 2 + self.n_state + int(self.norm_pass), 1 + self.n_state


def _clip_adamw(lib, **kw):
  schedule = lib.warmup_cosine_decay_schedule(0.0, 1e-3, 100, 10_000)
  return lib.chain(lib.clip_by_global_norm(1.0), lib.adamw(schedule, **kw))


OPTIMIZERS: dict[str, OptSpec] = {s.name: s for s in (
    OptSpec("sgd", "sgd(1e-3)", lambda lib, **kw: lib.sgd(LR, **kw), 0),
    OptSpec("momentum", "sgd(1e-3, momentum=0.9)",
            lambda lib, **kw: lib.sgd(LR, momentum=0.9, **kw), 1),
    OptSpec("nesterov", "sgd(1e-3, momentum=0.9, nesterov=True)",
            lambda lib, **kw: lib.sgd(LR, momentum=0.9, nesterov=True, **kw), 1),
    OptSpec("adagrad", "adagrad(1e-3)", lambda lib, **kw: lib.adagrad(LR, **kw), 1),
    OptSpec("rmsprop", "rmsprop(1e-3)", lambda lib, **kw: lib.rmsprop(LR, **kw), 1),
    OptSpec("adam", "adam(1e-3)", lambda lib, **kw: lib.adam(LR, **kw), 2),
    OptSpec("adamw", "adamw(1e-3)", lambda lib, **kw: lib.adamw(LR, **kw), 2),
    OptSpec("clip_adamw",
            "chain(clip_by_global_norm(1.0), adamw(warmup_cosine_decay_schedule(0, 1e-3, 100, 10000)))",
            _clip_adamw, 2, norm_pass=True),
)}


def _load_rows() -> None:
  """Adds the `SPECS` of every `benchmarks/rows/*.py` (one file per area: the Optax
  surface, contrib, torch_optim, ...) to `OPTIMIZERS`, outside the default run."""
  import importlib
  import pkgutil
  from benchmarks import rows
  for info in sorted(pkgutil.iter_modules(rows.__path__), key=lambda i: i.name):
    module = importlib.import_module(f"benchmarks.rows.{info.name}")
    for spec in module.SPECS:
      if spec.name in OPTIMIZERS:
        raise ValueError(f"benchmarks/rows/{info.name}.py: duplicate optimizer {spec.name!r}")
      OPTIMIZERS[spec.name] = dataclasses.replace(spec, default=False)


_load_rows()


# ------------------------------------------------------------------ trees


def _transformer_shapes(d: int = 384, layers: int = 8, vocab: int = 4096,
                        ctx: int = 512) -> dict[str, Any]:
  """A small decoder-only transformer: embeddings, `layers` blocks of 12 leaves
  (q, k, v, o, MLP up/down with biases, two layer norms), a final layer norm:
  100 leaves for 8 layers, ~15.95M params at d=384."""
  def block():
    return {
        "attn": {"wq": (d, d), "wk": (d, d), "wv": (d, d), "wo": (d, d)},
        "mlp": {"w_up": (d, 4 * d), "b_up": (4 * d,), "w_down": (4 * d, d), "b_down": (d,)},
        "ln1": {"scale": (d,), "bias": (d,)}, "ln2": {"scale": (d,), "bias": (d,)},
    }
  tree = {"tok_embed": (vocab, d), "pos_embed": (ctx, d),
          "ln_f": {"scale": (d,), "bias": (d,)}}
  tree.update({f"block_{i:02d}": block() for i in range(layers)})
  return tree


@dataclasses.dataclass(frozen=True)
class TreeSpec:
  name: str
  label: str
  shapes: Callable[[], Any]  # -> nested dict of shape tuples


TREES: dict[str, TreeSpec] = {s.name: s for s in (
    TreeSpec("1x16M", "1 leaf, 4096x4096", lambda: {"w": (4096, 4096)}),
    TreeSpec("100mixed", "100 leaves, transformer-like (d=384, 8 blocks)",
             _transformer_shapes),
    TreeSpec("1000x4K", "1000 leaves of 64x64",
             lambda: {f"w{i:04d}": (64, 64) for i in range(1000)}),
)}


def _is_shape(x: Any) -> bool:
  return isinstance(x, tuple) and all(isinstance(i, int) for i in x)


def _map_shapes(fn: Callable[[tuple], Any], shapes: Any) -> Any:
  if _is_shape(shapes):
    return fn(shapes)
  return {k: _map_shapes(fn, v) for k, v in shapes.items()}


def leaf_shapes(spec: TreeSpec) -> list[tuple]:
  out: list[tuple] = []
  _map_shapes(out.append, spec.shapes())
  return out


def describe(spec: TreeSpec) -> str:
  shapes = leaf_shapes(spec)
  n = sum(math.prod(s) for s in shapes)
  return f"{spec.name}: {spec.label}; {len(shapes)} leaves, {n / 1e6:.2f}M params"


def make_tree(spec: TreeSpec, seed: int, scale: float = 1.0) -> Any:
  """float32 numpy leaves, fixed-seed normal * scale (host arrays; device_put by the caller)."""
  rng = np.random.default_rng(seed)
  return _map_shapes(lambda s: (rng.standard_normal(s, dtype=np.float32) * scale), spec.shapes())
