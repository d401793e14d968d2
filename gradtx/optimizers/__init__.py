"""Floor 6, named optimizers: short chains of the primitives with Optax's names and defaults."""

from gradtx.optimizers.classic import sgd, adagrad, rmsprop, adadelta, adafactor
from gradtx.optimizers.standard import (
  adam,
  adamw,
  nadam,
  nadamw,
  amsgrad,
  adamax,
  radam,
  adabelief,
)
from gradtx.optimizers.trust_ratio import lamb, lars

from gradtx.optimizers.sign import sign_sgd, signum, rprop, lion
from gradtx.optimizers.optimistic import (
  optimistic_gradient_descent,
  optimistic_adam,
  optimistic_adam_v2,
)
from gradtx.optimizers.adaptive_extra import yogi, sm3, novograd, adan, adamaxw, fromage, noisy_sgd
from gradtx.optimizers.matrix import shampoo, soap
from gradtx.optimizers.modern import mars, laprop, kron

__all__ = [
  'sgd',
  'adagrad',
  'rmsprop',
  'adam',
  'adamw',
  'nadam',
  'nadamw',
  'amsgrad',
  'adamax',
  'radam',
  'adabelief',
  'adadelta',
  'lion',
  'lamb',
  'lars',
  'adafactor',
  'sign_sgd',
  'signum',
  'rprop',
  'optimistic_gradient_descent',
  'optimistic_adam',
  'optimistic_adam_v2',
  'yogi',
  'sm3',
  'novograd',
  'adan',
  'adamaxw',
  'fromage',
  'noisy_sgd',
  'shampoo',
  'soap',
  'mars',
  'laprop',
  'kron',
]
