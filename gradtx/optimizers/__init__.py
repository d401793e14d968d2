"""Floor 6, named optimizers: short chains of the primitives with Optax's names and defaults.
"""

from gradtx.optimizers.standard import (sgd, adagrad, rmsprop, adam, adamw, nadam, nadamw, amsgrad, adamax, radam, adabelief, adadelta, lion, lamb, lars, adafactor)

__all__ = ['sgd', 'adagrad', 'rmsprop', 'adam', 'adamw', 'nadam', 'nadamw', 'amsgrad', 'adamax', 'radam', 'adabelief', 'adadelta', 'lion', 'lamb', 'lars', 'adafactor']
