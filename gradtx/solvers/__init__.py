"""Floor 7, solvers that need the objective: L-BFGS, line searches (zoom / strong Wolfe,
backtracking / Armijo), Polyak step sizes, and `value_and_grad_from_state`."""

__all__: list[str] = []
