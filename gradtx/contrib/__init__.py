"""`gradtx.contrib`: every public name of `optax.contrib`, faithful to the authors' reference
implementations, plus the matrix preconditioners and 2025-26 optimizers Optax lacks."""

__all__: list[str] = []

# -- E1: Muon, schedule-free, Prodigy, D-Adaptation, reduce_on_plateau, SAM
from gradtx.contrib.muon import MuonDimensionNumbers, MuonState, muon, scale_by_muon
__all__ += ["MuonDimensionNumbers", "MuonState", "muon", "scale_by_muon"]
from gradtx.contrib.schedule_free import (ScheduleFreeState, schedule_free, schedule_free_adamw,
                                          schedule_free_eval_params, schedule_free_sgd)
__all__ += ["ScheduleFreeState", "schedule_free", "schedule_free_adamw",
            "schedule_free_eval_params", "schedule_free_sgd"]
from gradtx.contrib.prodigy import ProdigyState, prodigy
from gradtx.contrib.dadapt import DAdaptAdamWState, dadapt_adamw
__all__ += ["ProdigyState", "prodigy", "DAdaptAdamWState", "dadapt_adamw"]
from gradtx.contrib.plateau import ReduceLROnPlateauState, reduce_on_plateau
from gradtx.contrib.sam import NormalizeState, SAMState, normalize, sam
__all__ += ["ReduceLROnPlateauState", "reduce_on_plateau", "NormalizeState", "SAMState",
            "normalize", "sam"]
# -- end E1

# -- E2: the other optax.contrib names
# -- end E2
