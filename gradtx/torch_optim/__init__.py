"""`gradtx.torch_optim`: `torch.optim` by class name and keyword argument, each an ordinary
gradtx `GradientTransformation` (a short chain of gradtx primitives), with
`lr_scheduler` and `torch.nn.utils`' gradient clipping. See docs/porting_from_pytorch.md.
"""

from gradtx.torch_optim.adam_family import Adam, AdamW, Adamax, NAdam, RAdam
from gradtx.torch_optim.classic import ASGD, SGD, Adadelta, Adagrad, RMSprop, Rprop
from gradtx.torch_optim.clipping import clip_grad_norm, clip_grad_value
from gradtx.torch_optim.muon import Muon
from gradtx.torch_optim.lbfgs import LBFGS
from gradtx.primitives.scaling.asgd import asgd_average
from gradtx.torch_optim import lr_scheduler

__all__ = [
  "SGD",
  "Adam",
  "AdamW",
  "RMSprop",
  "Adagrad",
  "Adadelta",
  "Adamax",
  "NAdam",
  "RAdam",
  "Rprop",
  "ASGD",
  "Muon",
  "LBFGS",
  "asgd_average",
  "clip_grad_norm",
  "clip_grad_value",
  "lr_scheduler",
]
