"""Goal: on 10-D Rosenbrock (float64, start at 0) gradtx.lbfgs reaches |x - 1| < 1e-6 in no
more iterations than scipy's L-BFGS-B, counted side by side (iterations and evaluations of
the objective with its gradient) by the counters `benchmarks/solvers.py` reports."""

import pytest

import gradtx
from benchmarks.solvers import counts, scipy_counts

pytestmark = pytest.mark.usefixtures("x64")


def test_lbfgs_needs_no_more_iterations_than_scipy_on_rosenbrock_10d():
  sp_iters, sp_evals = scipy_counts()
  gt_iters, gt_evals = counts(gradtx)
  print(f"10-D Rosenbrock from 0: gradtx {gt_iters} iterations / {gt_evals} evaluations, "
        f"scipy L-BFGS-B {sp_iters} / {sp_evals}")
  assert sp_iters is not None and gt_iters is not None
  assert gt_iters <= sp_iters
  assert gt_evals <= 1.5 * sp_evals  # evaluations are reported, not the goal; a sanity bound
