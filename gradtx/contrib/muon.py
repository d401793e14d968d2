"""Muon (Keller Jordan, 2024): momentum orthogonalized by Newton-Schulz, as
`torch.optim.Muon` implements it, with Optax's options and AdamW for the other leaves."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.tree_util import keystr

from gradtx.combinators.combine import chain
from gradtx.combinators.groups import partition
from gradtx.contrib.muon_axes import MuonDimensionNumbers, MuonLabels, SpecTree, matrix_views
from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.named import named_optimizer
from gradtx.core.protocol import GradientTransformation, StatelessTransformation
from gradtx.numerics.newton_schulz import PRECONDITIONINGS, newton_schulz
from gradtx.numerics.ops import (
  cast,
  complement,
  compute_dtype,
  hyper,
  map_leaves,
  pick_dtype,
  safe_increment,
  zero_count,
  zeros_like,
)
from gradtx.optimizers.standard import adamw
from gradtx.primitives.decay.weight_decay import add_decayed_weights
from gradtx.primitives.scaling.scaling import scale_by_learning_rate

__all__ = [
  "MuonDimensionNumbers",
  "MuonState",
  "ScaleByMuon",
  "scale_by_muon",
  "ScaleByShape",
  "muon",
  "NS_COEFFS_PRESETS",
]

# Keller Jordan's quintic (modded-nanogpt, torch.optim.Muon); Dion's five-step schedule (Optax).
_DEFAULT_NS_COEFFS = (3.4445, -4.7750, 2.0315)
NS_COEFFS_PRESETS = {
  "standard": _DEFAULT_NS_COEFFS,
  "dion": (
    (4.0848, -6.8946, 2.9270),
    (3.9505, -6.3029, 2.6377),
    (3.7418, -5.5913, 2.3037),
    (2.8769, -3.1427, 1.2046),
    (2.8366, -3.0525, 1.2012),
  ),
}


class MuonState(NamedTuple):
  """`count`: steps done; `mu`: the momentum, shaped like the params; `ns_coeffs`: the
  Newton-Schulz coefficients, `(3,)` or `(steps, 3)`."""

  count: jax.Array
  mu: Any
  ns_coeffs: jax.Array


def _is_real_float(dtype: Any) -> bool:
  try:
    return jnp.issubdtype(jnp.dtype(dtype), jnp.floating)
  except TypeError:
    return False


def _specs(weight_dimension_numbers: Any) -> SpecTree | None:
  if weight_dimension_numbers is None or isinstance(weight_dimension_numbers, SpecTree):
    return weight_dimension_numbers
  return SpecTree(weight_dimension_numbers)


def _check_coeffs(owner: str, ns_coeffs: Any, ns_steps: int) -> None:
  shape = jnp.shape(jnp.asarray(ns_coeffs)) if not isinstance(ns_coeffs, str) else None
  if shape is None or len(shape) not in (1, 2) or shape[-1] != 3:
    raise ValueError(
      f"{owner}: ns_coeffs={ns_coeffs!r} is invalid; expected 3 numbers, a "
      f"sequence of triples or one of {sorted(NS_COEFFS_PRESETS)}."
    )
  if len(shape) == 2 and shape[0] > ns_steps:
    raise ValueError(
      f"{owner}: ns_coeffs holds {shape[0]} steps of coefficients but "
      f"ns_steps={ns_steps}; expected at most ns_steps rows."
    )


class ScaleByMuon(GradientTransformation):
  """Muon's direction: Nesterov momentum, then Newton-Schulz orthogonalization.

  `m_t = beta m_{t-1} + (1 - beta) g_t` (no bias correction, as Keller Jordan's
  reference and `torch.optim.Muon`; Optax divides by `1 - beta^t`);
  `d_t = beta m_t + (1 - beta) g_t` with `nesterov` (else `d_t = m_t`);
  `u_t = NS(d_t)`, `ns_steps` iterations `X <- a X + (b A + c A^2) X`, `A = X X^H`,
  after `X <- X / max(|X|_F, eps)` (`preconditioning`; see
  `gradtx.numerics.newton_schulz`); with `adaptive`, `u_t <- <d_t, u_t> u_t`
  (Bernstein & Newhouse 2024). Each leaf is a batch of matrices given by its
  `MuonDimensionNumbers` (`weight_dimension_numbers`: a tree, prefix tree or
  callable; None: every leaf is an `(in, out)` matrix). With `batch_same_shape`
  the matrices of all leaves of one shape run through one batched matmul chain.
  `ns_dtype`: the dtype of the Newton-Schulz iterations (None: the compute dtype, float32
  for float32 params; `jnp.bfloat16` as Keller Jordan's reference and `torch.optim.Muon`,
  which pays on accelerators with bfloat16 matmul units); the result is cast back.
  Defaults (Jordan; `torch.optim.Muon`): coefficients `(3.4445, -4.7750, 2.0315)`,
  `ns_steps=5`, `beta=0.95`, `eps=1e-7`, Nesterov; `ns_dtype=None` (Optax).
  """

  ns_coeffs: Any = _DEFAULT_NS_COEFFS
  ns_steps: int = static(default=5)
  beta: Any = 0.95
  eps: Any = 1e-7
  mu_dtype: Any = static(default=None)
  nesterov: bool = static(default=True)
  adaptive: bool = static(default=False)
  preconditioning: str = static(default="frobenius")
  weight_dimension_numbers: Any = static(default=None)
  batch_same_shape: bool = static(default=True)
  state_dtype: Any = static(default=None)
  ns_dtype: Any = static(default=None)

  def __post_init__(self):
    owner = "scale_by_muon"
    if self.ns_dtype is not None and not _is_real_float(self.ns_dtype):
      raise ValueError(
        f"{owner}: ns_dtype={self.ns_dtype!r} is invalid; expected None or a real floating "
        "dtype such as jnp.bfloat16 or jnp.float32."
      )
    _checks.positive_integer(owner, "ns_steps", self.ns_steps)
    _checks.decay_rate(owner, "beta", self.beta)
    _checks.non_negative(owner, "eps", self.eps)
    _check_coeffs(owner, self.ns_coeffs, self.ns_steps)
    if self.preconditioning not in PRECONDITIONINGS:
      raise ValueError(
        f"{owner}: preconditioning={self.preconditioning!r} is invalid; "
        f"expected one of {PRECONDITIONINGS}."
      )
    object.__setattr__(self, "weight_dimension_numbers", _specs(self.weight_dimension_numbers))

  def init(self, params):
    return MuonState(
      zero_count(),
      zeros_like(params, pick_dtype(self.mu_dtype, self.state_dtype)),
      jnp.asarray(self.ns_coeffs),
    )

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    views = [view for _, view in matrix_views(updates, self.weight_dimension_numbers)]
    beta = self.beta

    def leaf(g, m):
      cdt = compute_dtype(g.dtype)
      gc = g.astype(cdt)
      m_new = hyper(beta, cdt) * m.astype(cdt) + complement(beta, cdt) * gc
      d = hyper(beta, cdt) * m_new + complement(beta, cdt) * gc if self.nesterov else m_new
      return d, cast(m_new, m.dtype)

    directions, mu = map_leaves(leaf, updates, state.mu, n_out=2)
    coeffs = state.ns_coeffs
    if coeffs.ndim == 1:
      coeffs = jnp.broadcast_to(coeffs, (self.ns_steps, 3))
    d_leaves, treedef = jax.tree.flatten(directions)
    if self.ns_dtype is not None:
      for path, g in jax.tree_util.tree_leaves_with_path(updates):
        if jnp.iscomplexobj(g):
          raise TypeError(
            f"scale_by_muon: leaf {keystr(path)} is complex ({jnp.result_type(g)}); "
            f"ns_dtype={jnp.dtype(self.ns_dtype).name} is real: use ns_dtype=None."
          )
    ortho = self._orthogonalize(d_leaves, views, coeffs)
    if self.adaptive:  # scale by the dual norm <d, NS(d)>
      ortho = [jnp.sum(d.conj() * o) * o for d, o in zip(d_leaves, ortho)]
    g_leaves = jax.tree.leaves(updates)
    out = treedef.unflatten([cast(o, jnp.result_type(g)) for o, g in zip(ortho, g_leaves)])
    return out, MuonState(safe_increment(state.count), mu, state.ns_coeffs)

  def _orthogonalize(self, leaves: list, views: list, coeffs: jax.Array) -> list:
    mats = [view.to_matrix(x) for x, view in zip(leaves, views)]
    groups: dict = {}
    for i, m in enumerate(mats):
      key = (m.shape[1:], m.dtype) if self.batch_same_shape else i
      groups.setdefault(key, []).append(i)
    ortho = [None] * len(mats)
    for idx in groups.values():
      stacked = mats[idx[0]] if len(idx) == 1 else jnp.concatenate([mats[i] for i in idx])
      ns_in = stacked if self.ns_dtype is None else stacked.astype(self.ns_dtype)
      result = newton_schulz(ns_in, coeffs, self.eps, self.preconditioning).astype(stacked.dtype)
      start = 0
      for i in idx:
        size = mats[i].shape[0]
        part = result if len(idx) == 1 else result[start : start + size]
        ortho[i] = views[i].from_matrix(part)
        start += size
    return ortho


class ScaleByShape(StatelessTransformation):
  """Muon's shape factor per leaf: `u = sqrt(max(1, fan_out / fan_in)) g` (Keller
  Jordan's adjusted learning rate, `torch.optim.Muon`'s `adjust_lr_fn="original"`), or
  with `consistent_rms` `u = consistent_rms sqrt(max(fan_in, fan_out)) g` (Moonlight,
  Liu et al. 2025; `0.2` is torch's `adjust_lr_fn="match_rms_adamw"`)."""

  weight_dimension_numbers: Any = static(default=None)
  consistent_rms: Any = None

  def __post_init__(self):
    _checks.positive("muon", "consistent_rms", self.consistent_rms)
    object.__setattr__(self, "weight_dimension_numbers", _specs(self.weight_dimension_numbers))

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    pairs = matrix_views(updates, self.weight_dimension_numbers)
    leaves, treedef = jax.tree.flatten(updates)
    out = []
    for g, (_, view) in zip(leaves, pairs):
      cdt = compute_dtype(g.dtype)
      if self.consistent_rms is None:
        factor = hyper(max(1.0, view.fan_out / view.fan_in) ** 0.5, cdt)
      else:
        factor = hyper(self.consistent_rms, cdt) * hyper(max(view.fan_in, view.fan_out) ** 0.5, cdt)
      out.append(cast(factor * g.astype(cdt), g.dtype))
    return treedef.unflatten(out), state


def scale_by_muon(
  ns_coeffs: Any = _DEFAULT_NS_COEFFS,
  ns_steps: int = 5,
  beta: Any = 0.95,
  eps: Any = 1e-7,
  mu_dtype: Any = None,
  *,
  nesterov: bool = True,
  adaptive: bool = False,
  preconditioning: str = "frobenius",
  weight_dimension_numbers: Any = None,
  batch_same_shape: bool = True,
  state_dtype: Any = None,
  ns_dtype: Any = None,
) -> ScaleByMuon:
  r"""Muon's orthogonalized momentum (details: `ScaleByMuon`); Optax's signature.

  $$ m_t = \beta m_{t-1} + (1 - \beta) g_t, \quad
     d_t = \beta m_t + (1 - \beta) g_t \ (\text{nesterov; else } d_t = m_t), \quad
     u_t = \mathrm{NS}(d_t) $$

  with no bias correction, and $\mathrm{NS}$ `ns_steps` Newton-Schulz iterations
  $X \leftarrow aX + (bA + cA^2)X$, $A = X X^\top$, from $X = d_t / \max(\lVert d_t \rVert_F,
  \epsilon)$; `adaptive`: $u_t \leftarrow \langle d_t, u_t \rangle\, u_t$.

  Defaults: coefficients $(a, b, c) = (3.4445, -4.7750, 2.0315)$, `ns_steps=5`,
  `beta=0.95`, `eps=1e-7`, Nesterov (Keller Jordan's reference, `torch.optim.Muon`);
  `ns_dtype=None` (the iterations in the compute dtype, as Optax; `jnp.bfloat16` as the
  reference and torch).
  """
  if isinstance(ns_coeffs, str):
    ns_coeffs = _preset(ns_coeffs)
  return ScaleByMuon(
    ns_coeffs,
    ns_steps,
    beta,
    eps,
    mu_dtype,
    nesterov,
    adaptive,
    preconditioning,
    weight_dimension_numbers,
    batch_same_shape,
    state_dtype,
    ns_dtype,
  )


def _preset(name: str) -> Any:
  if name not in NS_COEFFS_PRESETS:
    raise ValueError(
      f"muon: ns_coeffs={name!r} is invalid; expected numbers or one of "
      f"{sorted(NS_COEFFS_PRESETS)}."
    )
  return NS_COEFFS_PRESETS[name]


def _muon(
  learning_rate: Any,
  ns_coeffs: Any = _DEFAULT_NS_COEFFS,
  ns_steps: int = 5,
  beta: Any = 0.95,
  eps: Any = 1e-7,
  weight_decay: Any = 0.0,
  weight_decay_mask: Any = None,
  mu_dtype: Any = None,
  *,
  nesterov: bool = True,
  adaptive: bool = False,
  preconditioning: str = "frobenius",
  adam_b1: Any = 0.9,
  adam_b2: Any = 0.999,
  adam_eps_root: Any = 0.0,
  adam_weight_decay: Any = 0.0,
  adam_learning_rate: Any = None,
  muon_weight_dimension_numbers: Any = None,
  consistent_rms: Any = None,
  adam_eps: Any = 1e-8,
  adam_mask: Any = None,
  batch_same_shape: bool = True,
  state_dtype: Any = None,
  ns_dtype: Any = None,
) -> GradientTransformation:
  r"""Muon on the matrix leaves, AdamW on the rest (Optax's `muon`; see `ScaleByMuon`).

  Matrix leaves: $w \leftarrow w - \eta_t\,(s\, \mathrm{NS}(d_t) + \lambda w)$, with $d_t$ and
  $\mathrm{NS}$ as in `scale_by_muon` and $s$ the shape factor below.

  Matrix leaves: `w <- w - lr (s NS(d_t) + weight_decay w)` with `s` Muon's shape factor
  (`ScaleByShape`: `sqrt(max(1, fan_out / fan_in))`, or `consistent_rms sqrt(max(fan_in,
  fan_out))`), which is `torch.optim.Muon`'s update with its adjusted learning rate.
  The other leaves: `adamw(adam_learning_rate or learning_rate, adam_b1, adam_b2,
  adam_eps, adam_eps_root, weight_decay=adam_weight_decay, nesterov=nesterov)` (Optax's
  fallback). Which leaves are matrices: `muon_weight_dimension_numbers` (a tree or
  callable of `MuonDimensionNumbers`, None for an AdamW leaf; default: the 2-D leaves);
  `adam_mask` (a mask or selector) sends more leaves to AdamW, e.g. the embeddings and
  the output head as the authors advise:
  `muon(0.02, adam_mask=gradtx.by_path("embed*", "lm_head/*"))`.
  Defaults: Muon's from `torch.optim.Muon` (`ns_steps=5`, `beta=0.95`, `eps=1e-7` in
  `X / max(|X|_F, eps)`); AdamW's from Optax (`adam_b1=0.9`, `adam_b2=0.999`,
  `adam_eps=1e-8`, `adam_eps_root=0`, `adam_weight_decay=0`); `weight_decay=0` (Keller
  Jordan's reference); `ns_dtype=None` (`jnp.bfloat16`: the reference's and torch's
  bfloat16 Newton-Schulz).
  """
  if isinstance(ns_coeffs, str):
    ns_coeffs = _preset(ns_coeffs)
  specs = _specs(muon_weight_dimension_numbers)
  muon_tx = chain(
    scale_by_muon(
      ns_coeffs,
      ns_steps,
      beta,
      eps,
      mu_dtype,
      nesterov=nesterov,
      adaptive=adaptive,
      preconditioning=preconditioning,
      weight_dimension_numbers=specs,
      batch_same_shape=batch_same_shape,
      state_dtype=state_dtype,
      ns_dtype=ns_dtype,
    ),
    ScaleByShape(specs, consistent_rms),
    add_decayed_weights(weight_decay, weight_decay_mask),
    scale_by_learning_rate(learning_rate),
  )
  adam_tx = adamw(
    learning_rate if adam_learning_rate is None else adam_learning_rate,
    adam_b1,
    adam_b2,
    adam_eps,
    adam_eps_root,
    mu_dtype,
    weight_decay=adam_weight_decay,
    nesterov=nesterov,
    state_dtype=state_dtype,
  )
  return partition({"muon": muon_tx, "adam": adam_tx}, MuonLabels(specs, adam_mask))


muon = named_optimizer(
  _muon, static_args=("ns_steps", "muon_weight_dimension_numbers", "adam_mask", "preconditioning")
)
