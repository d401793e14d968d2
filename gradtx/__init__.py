"""gradtx: composable, purely functional gradient transformations for JAX.

An optimizer is a pair of pure functions, `init(params) -> state` and
`update(updates, state, params=None, **extra_args) -> (updates, state)`, held
in a `GradientTransformation` that is also a pytree of its numeric
hyperparameters. Same protocol as Optax.

The package is built in floors; each imports only the floors below it:

0. `gradtx.core`        -- the protocol and pytree core
1. `gradtx.numerics`, `gradtx.tree_utils` -- numerics and tree utilities
2. `gradtx.primitives`  -- transformations grouped by concept
3. `gradtx.schedules`   -- schedules
4. `gradtx.combinators` -- chain, parameter groups, hyperparameters as data
5. `gradtx.wrappers`    -- wrappers around a whole transformation
6. `gradtx.optimizers`  -- named optimizers (short chains)
7. `gradtx.solvers`     -- solvers that need the objective (L-BFGS, line searches)

On top sit the namespaces: Optax's (`gradtx.transforms`, `gradtx.tree`,
`gradtx.tree_utils`, `gradtx.schedules`, `gradtx.projections`,
`gradtx.second_order`, `gradtx.microbatching`, `gradtx.contrib`) and
`gradtx.torch_optim`.
This module re-exports every floor's `__all__`.
"""

from gradtx.core import *
from gradtx.numerics import *
from gradtx.tree_utils.selection import Selector, by_leaf, by_ndim, by_path
from gradtx.primitives import *
from gradtx.schedules import *
from gradtx.combinators import *
from gradtx.wrappers import *
from gradtx.optimizers import *
from gradtx.solvers import *
from gradtx import (
  combinators as _combinators,
  core as _core,
  numerics as _numerics,
  optimizers as _optimizers,
  primitives as _primitives,
  schedules as _schedules,
  solvers as _solvers,
  wrappers as _wrappers,
)
from gradtx import (
  contrib,
  microbatching,
  projections,
  second_order,
  torch_optim,
  transforms,
  tree,
  tree_utils,
)  # (namespaces)
from gradtx.microbatching import microbatch  # Optax has it at the top level too

__version__ = "0.1.0"

__all__ = list(  # pyright: ignore[reportUnsupportedDunderAll]  (pyright can't follow dedup)
  dict.fromkeys(
    [  # each name once (schedules and combinators share two)
      *_core.__all__,
      *_numerics.__all__,
      "Selector",
      "by_path",
      "by_ndim",
      "by_leaf",
      *_primitives.__all__,
      *_schedules.__all__,
      *_combinators.__all__,
      *_wrappers.__all__,
      *_optimizers.__all__,
      *_solvers.__all__,
      "microbatch",
      "__version__",
    ]
  )
)
