"""NorMuon (Li et al., 2025): Muon's orthogonalized momentum, normalized per neuron by an EMA
of its squared rows, then rescaled; AdamW for the other leaves. Built from `muon.py`."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.combinators.combine import chain
from gradtx.combinators.groups import partition
from gradtx.contrib.muon import (
  _DEFAULT_NS_COEFFS,
  ScaleByShape,
  _preset,
  _specs,
  scale_by_muon,
)
from gradtx.contrib.muon_axes import MuonLabels, matrix_views
from gradtx.core import checks as _checks
from gradtx.core.module import static
from gradtx.core.named import named_optimizer
from gradtx.core.protocol import GradientTransformation
from gradtx.numerics.ops import cast, complement, compute_dtype, hyper, real_dtype
from gradtx.numerics.ops import state_dtype as _state_dtype
from gradtx.optimizers.standard import adamw
from gradtx.primitives.decay.weight_decay import add_decayed_weights
from gradtx.primitives.scaling.scaling import scale_by_learning_rate

__all__ = ["ScaleByNeuronNormState", "ScaleByNeuronNorm", "scale_by_neuron_norm", "normuon"]


class ScaleByNeuronNormState(NamedTuple):
  """`nu`: per leaf the EMA of the mean squared entry of each output neuron of the update,
  shape `(batch, fan_out)` of the leaf's matrix view."""

  nu: Any


class ScaleByNeuronNorm(GradientTransformation):
  r"""NorMuon's neuron-wise normalization of an orthogonalized update $O$.

  Per matrix $O$ (`(fan_in, fan_out)` by the leaf's `MuonDimensionNumbers`; an output
  neuron is a column in JAX's layout, a row of the paper's $m \times n$):
  $v_t = \beta_2 v_{t-1} + (1 - \beta_2)\,\mathrm{mean}_{\text{fan-in}}(O \odot O)$,
  $\hat O = O / (\sqrt{v_t} + \epsilon)$ (no bias correction), then
  $u = \rho \sqrt{mn}\, \hat O / \lVert \hat O \rVert_F$ with `rms_scale` $\rho$ (the paper's
  $\hat\eta = 0.2\,\eta \sqrt{mn} / \lVert \hat O \rVert_F$), or with `rms_scale=None`
  $u = \lVert O \rVert_F\, \hat O / (\lVert \hat O \rVert_F + \epsilon)$ (the authors' code,
  which then applies Muon's shape factor). Defaults: `b2=0.95`, `eps=1e-10`, `rms_scale=0.2`.
  """

  b2: Any = 0.95
  eps: Any = 1e-10
  rms_scale: Any = 0.2
  weight_dimension_numbers: Any = static(default=None)
  state_dtype: Any = static(default=None)

  def __post_init__(self):
    owner = "normuon"
    _checks.decay_rate(owner, "b2", self.b2)
    _checks.non_negative(owner, "eps", self.eps)
    _checks.positive(owner, "rms_scale", self.rms_scale)
    object.__setattr__(self, "weight_dimension_numbers", _specs(self.weight_dimension_numbers))

  def init(self, params):
    pairs = matrix_views(params, self.weight_dimension_numbers, "normuon")
    nu = [
      jnp.zeros(
        (v.batch, v.fan_out), real_dtype(_state_dtype(jnp.result_type(p), self.state_dtype))
      )
      for p, v in pairs
    ]
    return ScaleByNeuronNormState(jax.tree.structure(params).unflatten(nu))

  def update(self, updates, state, params=None, **extra_args):
    del params, extra_args
    pairs = matrix_views(updates, self.weight_dimension_numbers, "normuon")
    treedef = jax.tree.structure(updates)
    out, nus = [], []
    for (o, view), nu in zip(pairs, treedef.flatten_up_to(state.nu)):
      cdt = compute_dtype(o.dtype)
      x = view.to_matrix(o.astype(cdt))
      sq = jnp.real(x * jnp.conj(x))
      nu_new = hyper(self.b2, cdt) * nu.astype(sq.dtype) + complement(self.b2, cdt) * jnp.mean(
        sq, axis=1
      )
      eps = hyper(self.eps, cdt)
      y = x / (jnp.sqrt(nu_new)[:, None, :] + eps)
      y_norm = jnp.sqrt(jnp.sum(jnp.real(y * jnp.conj(y)), axis=(1, 2), keepdims=True))
      if self.rms_scale is None:
        x_norm = jnp.sqrt(jnp.sum(sq, axis=(1, 2), keepdims=True))
        y = y * (x_norm / (y_norm + eps))
      else:
        size = hyper((view.fan_in * view.fan_out) ** 0.5, cdt)
        y = y * (hyper(self.rms_scale, cdt) * size / y_norm)
      out.append(cast(view.from_matrix(y), o.dtype))
      nus.append(cast(nu_new, nu.dtype))
    return treedef.unflatten(out), ScaleByNeuronNormState(treedef.unflatten(nus))


def scale_by_neuron_norm(
  b2: Any = 0.95,
  eps: Any = 1e-10,
  rms_scale: Any = 0.2,
  *,
  weight_dimension_numbers: Any = None,
  state_dtype: Any = None,
) -> ScaleByNeuronNorm:
  r"""NorMuon's normalization of an orthogonalized update $O$ (details: `ScaleByNeuronNorm`).

  $$ v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, \mathrm{mean}_{\text{fan-in}}(O \odot O), \quad
     \hat O = \frac{O}{\sqrt{v_t} + \epsilon}, \quad
     u = \rho \sqrt{mn}\, \frac{\hat O}{\lVert \hat O \rVert_F} $$

  per output neuron (a column in JAX's layout), $\rho$ = `rms_scale`; with `rms_scale=None`
  $u = \lVert O \rVert_F\, \hat O / (\lVert \hat O \rVert_F + \epsilon)$ (the authors' code).

  Defaults: `b2=0.95`, `eps=1e-10`, `rms_scale=0.2` (Li et al. 2025).
  """
  return ScaleByNeuronNorm(b2, eps, rms_scale, weight_dimension_numbers, state_dtype)


def _normuon(
  learning_rate: Any,
  ns_coeffs: Any = _DEFAULT_NS_COEFFS,
  ns_steps: int = 5,
  beta: Any = 0.95,
  b2: Any = 0.95,
  eps: Any = 1e-7,
  norm_eps: Any = 1e-10,
  rms_scale: Any = 0.2,
  weight_decay: Any = 0.0,
  weight_decay_mask: Any = None,
  mu_dtype: Any = None,
  *,
  nesterov: bool = False,
  adam_b1: Any = 0.9,
  adam_b2: Any = 0.999,
  adam_eps: Any = 1e-8,
  adam_weight_decay: Any = 0.0,
  adam_learning_rate: Any = None,
  muon_weight_dimension_numbers: Any = None,
  adam_mask: Any = None,
  state_dtype: Any = None,
) -> GradientTransformation:
  r"""NorMuon on the matrix leaves (Li et al. 2025, Algorithm 1), AdamW on the rest.

  Matrix leaves: $M_t = \beta M_{t-1} + (1 - \beta) g_t$ (`nesterov`:
  $\beta M_t + (1 - \beta) g_t$ goes on), $O_t = \mathrm{NS}(M_t)$ (`scale_by_muon`),
  $\hat O_t$ normalized per output neuron and rescaled (`ScaleByNeuronNorm`),
  $w \leftarrow w - \eta_t (\hat O_t + \lambda w)$: with `rms_scale=0.2` this is the
  paper's $\hat\eta = 0.2 \eta \sqrt{mn} / \lVert \hat O_t \rVert_F$; `rms_scale=None,
  nesterov=True` is the authors' code (zichongli5/NorMuon `normuon_update`: the norm of
  $O_t$ kept, times $\sqrt{\max(1, \text{fan-out}/\text{fan-in})}$). Other leaves (and
  `adam_mask`): `adamw(adam_learning_rate or learning_rate, adam_b1, adam_b2, adam_eps,
  weight_decay=adam_weight_decay)`, as `muon`.

  Defaults: from Li et al. 2025 and the authors' code, `beta=0.95`, `b2=0.95`,
  `norm_eps=1e-10`, `rms_scale=0.2`, `weight_decay=0`; Newton-Schulz as `muon`
  (`ns_steps=5`, `eps=1e-7`); AdamW's as Optax's (`adam_b1=0.9`, `adam_b2=0.999`,
  `adam_eps=1e-8`, `adam_weight_decay=0`).
  """
  if isinstance(ns_coeffs, str):
    ns_coeffs = _preset(ns_coeffs)
  specs = _specs(muon_weight_dimension_numbers)
  stages = [
    scale_by_muon(
      ns_coeffs,
      ns_steps,
      beta,
      eps,
      mu_dtype,
      nesterov=nesterov,
      weight_dimension_numbers=specs,
      state_dtype=state_dtype,
    ),
    scale_by_neuron_norm(
      b2, norm_eps, rms_scale, weight_dimension_numbers=specs, state_dtype=state_dtype
    ),
  ]
  if rms_scale is None:
    stages.append(ScaleByShape(specs, None))
  normuon_tx = chain(
    *stages,
    add_decayed_weights(weight_decay, weight_decay_mask),
    scale_by_learning_rate(learning_rate),
  )
  adam_tx = adamw(
    learning_rate if adam_learning_rate is None else adam_learning_rate,
    adam_b1,
    adam_b2,
    adam_eps,
    weight_decay=adam_weight_decay,
    state_dtype=state_dtype,
  )
  return partition({"muon": normuon_tx, "adam": adam_tx}, MuonLabels(specs, adam_mask))


normuon = named_optimizer(
  _normuon, static_args=("ns_steps", "muon_weight_dimension_numbers", "adam_mask", "rms_scale")
)
