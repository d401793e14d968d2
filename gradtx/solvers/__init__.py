"""Floor 7, solvers that need the objective: L-BFGS, line searches (zoom / strong Wolfe,
backtracking / Armijo), Polyak step sizes, and `value_and_grad_from_state`."""

from gradtx.solvers.backtracking import (
  BacktrackingLinesearchInfo,
  ScaleByBacktrackingLinesearchState,
  scale_by_backtracking_linesearch,
)
from gradtx.solvers.lbfgs import ScaleByLBFGSState, lbfgs, scale_by_lbfgs
from gradtx.solvers.objective import value_and_grad_from_state
from gradtx.solvers.polyak import polyak_sgd, scale_by_polyak
from gradtx.solvers.zoom import (
  ScaleByZoomLinesearchState,
  ZoomLinesearchInfo,
  scale_by_zoom_linesearch,
)

__all__: list[str] = [
  "BacktrackingLinesearchInfo",
  "ScaleByBacktrackingLinesearchState",
  "ScaleByLBFGSState",
  "ScaleByZoomLinesearchState",
  "ZoomLinesearchInfo",
  "lbfgs",
  "polyak_sgd",
  "scale_by_backtracking_linesearch",
  "scale_by_lbfgs",
  "scale_by_polyak",
  "scale_by_zoom_linesearch",
  "value_and_grad_from_state",
]
