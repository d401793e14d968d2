"""`gradtx.contrib`: every public name of `optax.contrib`, faithful to the authors' reference
implementations, plus the matrix preconditioners and 2025-26 optimizers Optax lacks."""

__all__: list[str] = []

# -- E1: Muon, schedule-free, Prodigy, D-Adaptation, reduce_on_plateau, SAM
from gradtx.contrib.muon import MuonDimensionNumbers, MuonState, muon, scale_by_muon

__all__ += ["MuonDimensionNumbers", "MuonState", "muon", "scale_by_muon"]
from gradtx.contrib.schedule_free import (
  ScheduleFreeState,
  schedule_free,
  schedule_free_adamw,
  schedule_free_eval_params,
  schedule_free_sgd,
)

__all__ += [
  "ScheduleFreeState",
  "schedule_free",
  "schedule_free_adamw",
  "schedule_free_eval_params",
  "schedule_free_sgd",
]
from gradtx.contrib.prodigy import ProdigyState, prodigy
from gradtx.contrib.dadapt import DAdaptAdamWState, dadapt_adamw

__all__ += ["ProdigyState", "prodigy", "DAdaptAdamWState", "dadapt_adamw"]
from gradtx.contrib.plateau import ReduceLROnPlateauState, reduce_on_plateau
from gradtx.contrib.sam import NormalizeState, SAMState, normalize, sam

__all__ += [
  "ReduceLROnPlateauState",
  "reduce_on_plateau",
  "NormalizeState",
  "SAMState",
  "normalize",
  "sam",
]
# -- end E1

# -- E2: the other optax.contrib names
from gradtx.contrib.acprop import acprop, scale_by_acprop
from gradtx.contrib.adopt import adopt, scale_by_adopt
from gradtx.contrib.ademamix import (
  ScaleByAdemamixState,
  ScaleBySimplifiedAdEMAMixState,
  ademamix,
  scale_by_ademamix,
  scale_by_simplified_ademamix,
  simplified_ademamix,
)

__all__ += [
  "acprop",
  "scale_by_acprop",
  "adopt",
  "scale_by_adopt",
  "ScaleByAdemamixState",
  "ScaleBySimplifiedAdEMAMixState",
  "ademamix",
  "scale_by_ademamix",
  "scale_by_simplified_ademamix",
  "simplified_ademamix",
]
from gradtx.contrib.cocob import COCOBState, cocob, scale_by_cocob
from gradtx.contrib.dog import DoGState, DoWGState, dog, dowg
from gradtx.contrib.madgrad import MadgradState, madgrad, scale_by_madgrad

__all__ += [
  "COCOBState",
  "cocob",
  "scale_by_cocob",
  "DoGState",
  "DoWGState",
  "dog",
  "dowg",
  "MadgradState",
  "madgrad",
  "scale_by_madgrad",
]
from gradtx.contrib.privacy import (
  DifferentiallyPrivateAggregateState,
  differentially_private_aggregate,
  dpsgd,
)
from gradtx.contrib.complex_valued import SplitRealAndImaginaryState, split_real_and_imaginary
from gradtx.contrib.momo import MomoAdamState, MomoState, momo, momo_adam
from gradtx.contrib.mechanic import MechanicState, mechanize

__all__ += [
  "DifferentiallyPrivateAggregateState",
  "differentially_private_aggregate",
  "dpsgd",
  "SplitRealAndImaginaryState",
  "split_real_and_imaginary",
  "MomoAdamState",
  "MomoState",
  "momo",
  "momo_adam",
  "MechanicState",
  "mechanize",
]
from gradtx.contrib.sophia import (
  HutchinsonState,
  SophiaState,
  hutchinson_estimator_diag_hessian,
  sophia,
)

__all__ += ["HutchinsonState", "SophiaState", "hutchinson_estimator_diag_hessian", "sophia"]
# -- end E2

# -- issue 11: GaLore
from gradtx.contrib.galore import GaLoreDimensionNumbers, GaLoreState, galore, scale_by_galore

__all__ += ["GaLoreDimensionNumbers", "GaLoreState", "galore", "scale_by_galore"]
from gradtx.contrib.normuon import ScaleByNeuronNormState, normuon, scale_by_neuron_norm

__all__ += ["ScaleByNeuronNormState", "normuon", "scale_by_neuron_norm"]
# -- end issue 11
