"""Weight decay."""

from gradtx.primitives.decay.weight_decay import add_decayed_weights, AddDecayedWeightsState

__all__ = ['add_decayed_weights', 'AddDecayedWeightsState']
