"""Matrix preconditioning: Shampoo (Kronecker factors, inverse roots, grafting) and SOAP
(Adam in Shampoo's eigenbasis).
"""

from gradtx.primitives.preconditioning.shampoo import (
  scale_by_shampoo,
  ScaleByShampoo,
  ScaleByShampooState,
)
from gradtx.primitives.preconditioning.soap import scale_by_soap, ScaleBySoap, ScaleBySoapState
from gradtx.primitives.preconditioning.stepped_decay import (
  add_stepped_weight_decay,
  AddSteppedWeightDecay,
  AddSteppedWeightDecayState,
)
from gradtx.primitives.preconditioning.kron import (
  scale_by_kron,
  ScaleByKron,
  ScaleByKronState,
  kron_update_probability,
  KronUpdateProbability,
)

__all__ = [
  'scale_by_shampoo',
  'ScaleByShampoo',
  'ScaleByShampooState',
  'scale_by_soap',
  'ScaleBySoap',
  'ScaleBySoapState',
  'add_stepped_weight_decay',
  'AddSteppedWeightDecay',
  'AddSteppedWeightDecayState',
  'scale_by_kron',
  'ScaleByKron',
  'ScaleByKronState',
  'kron_update_probability',
  'KronUpdateProbability',
]
