"""gradtx: composable, purely functional gradient transformations for JAX.

An optimizer is a pair of pure functions, `init(params) -> state` and
`update(updates, state, params=None, **extra_args) -> (updates, state)`, held
in a `GradientTransformation` that is also a pytree of its numeric
hyperparameters. Same protocol as Optax.
"""

from gradtx.adadelta import ScaleByAdaDeltaState, scale_by_adadelta
from gradtx.adagrad import ScaleByRssState, scale_by_rss
from gradtx.adam import (ScaleByAdamState, ScaleByAmsgradState, scale_by_adam,
                         scale_by_adamax, scale_by_amsgrad)
from gradtx.belief import ScaleByBeliefState, scale_by_belief
from gradtx.base import (EmptyState, GradientTransformation, OptState, Params,
                         StatelessTransformation, Updates,
                         identity, stateless, stateless_with_tree_map)
from gradtx.clipping import ClipByGlobalNormState, clip, clip_by_global_norm, global_norm
from gradtx.combine import chain
from gradtx.factored import (FactoredState, clip_by_block_rms, scale_by_factored_rms,
                             scale_by_param_block_rms)
from gradtx.lion import ScaleByLionState, scale_by_lion
from gradtx.momentum import EmaState, TraceState, ema, trace
from gradtx.optimizers import (adabelief, adadelta, adafactor, adagrad, adam, adamax, adamw,
                               amsgrad, lamb, lars, lion, nadam, nadamw, radam, rmsprop, sgd)
from gradtx.radam import scale_by_radam
from gradtx.rmsprop import ScaleByRmsState, ScaleByStddevState, scale_by_rms, scale_by_stddev
from gradtx.scaling import (ScaleByLearningRateState, ScaleByScheduleState, scale, scale_by_learning_rate,
                            scale_by_schedule)
from gradtx.schedules import (Schedule, constant_schedule, cosine_decay_schedule,
                              epoch_schedule, exponential_decay, inverse_sqrt_decay,
                              inverse_time_decay, join_schedules, linear_schedule,
                              piecewise_constant_schedule, polynomial_schedule,
                              warmup_cosine_decay_schedule)
from gradtx.accumulation import AccumulateState, accumulate_gradients
from gradtx.finite import ApplyIfFiniteState, all_finite, apply_if_finite, zero_nans
from gradtx.groups import (MaskedState, PartitionState, freeze, masked, multi_transform,
                           param_groups, partition, set_to_zero)
from gradtx.hyperparams import (InjectHyperparamsState, hyperparams_of, inject_hyperparams,
                                set_hyperparams)
from gradtx.selection import Selector, by_leaf, by_ndim, by_path
from gradtx.trust_ratio import scale_by_trust_ratio
from gradtx.update import apply_updates
from gradtx.weight_decay import AddDecayedWeightsState, add_decayed_weights

__version__ = "0.1.0"

__all__ = [
    # protocol
    "GradientTransformation", "StatelessTransformation", "EmptyState", "Params", "Updates", "OptState",
    "apply_updates", "chain", "identity", "stateless", "stateless_with_tree_map",
    # primitives
    "scale", "scale_by_learning_rate", "scale_by_schedule", "trace", "ema",
    "scale_by_rss", "scale_by_rms", "scale_by_stddev", "scale_by_adam", "scale_by_amsgrad",
    "scale_by_adamax", "add_decayed_weights", "clip", "clip_by_global_norm", "global_norm",
    "scale_by_radam", "scale_by_belief", "scale_by_adadelta", "scale_by_lion",
    "scale_by_trust_ratio", "scale_by_factored_rms", "clip_by_block_rms",
    "scale_by_param_block_rms",
    # states
    "TraceState", "EmaState", "ScaleByRssState", "ScaleByRmsState", "ScaleByStddevState",
    "ScaleByAdamState", "ScaleByAmsgradState", "ScaleByScheduleState", "ScaleByLearningRateState",
    "AddDecayedWeightsState", "ClipByGlobalNormState", "ScaleByBeliefState",
    "ScaleByAdaDeltaState", "ScaleByLionState", "FactoredState",
    # named optimizers
    "sgd", "adagrad", "rmsprop", "adam", "adamw", "nadam", "nadamw", "amsgrad", "adamax",
    "radam", "adabelief", "adadelta", "lion", "lamb", "lars", "adafactor",
    # schedules
    "Schedule", "constant_schedule", "linear_schedule", "polynomial_schedule",
    "exponential_decay", "inverse_time_decay", "inverse_sqrt_decay",
    "piecewise_constant_schedule", "cosine_decay_schedule", "warmup_cosine_decay_schedule",
    "join_schedules", "epoch_schedule",
    # hyperparameters as data
    "inject_hyperparams", "hyperparams_of", "set_hyperparams", "InjectHyperparamsState",
    # parameter groups and selection
    "masked", "partition", "multi_transform", "freeze", "set_to_zero", "param_groups",
    "MaskedState", "PartitionState", "Selector", "by_path", "by_ndim", "by_leaf",
    # wrappers
    "accumulate_gradients", "AccumulateState", "apply_if_finite", "ApplyIfFiniteState",
    "zero_nans", "all_finite",
    "__version__",
]
