"""Shared fixtures."""

import jax
import pytest


@pytest.fixture(scope="module")
def x64():
  """float64 for a whole module (`pytestmark = pytest.mark.usefixtures("x64")`), so
  comparisons with NumPy float64 references and with Optax are tight; restored after."""
  previous = jax.config.jax_enable_x64
  jax.config.update("jax_enable_x64", True)
  yield
  jax.config.update("jax_enable_x64", previous)
