"""`multi_normal`: a diagonal Gaussian parameterized by its mean and log standard deviation
(Optax's `optax.multi_normal`, used by evolution-strategy style estimators)."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

__all__ = ["multi_normal", "MultiNormalDiagFromLogScale"]


class MultiNormalDiagFromLogScale:
  """`N(loc, diag(exp(log_scale))^2)` with `loc` and `log_scale` broadcast together."""

  def __init__(self, loc: jax.typing.ArrayLike, log_scale: jax.typing.ArrayLike) -> None:
    self._mean = jnp.asarray(loc)
    self._log_scale = jnp.asarray(log_scale)
    self._scale = jnp.exp(self._log_scale)
    # Raises "Incompatible shapes for broadcasting" for shapes that do not broadcast.
    self._param_shape = jax.lax.broadcast_shapes(self._mean.shape, self._scale.shape)

  def sample(self, shape: Sequence[int], key: jax.Array) -> jax.Array:
    """Samples of shape `(*shape, *param_shape)`: `loc + scale * N(0, 1)`."""
    noise = jax.random.normal(key, (*tuple(shape), *self._param_shape))
    return noise * self._scale + self._mean

  def log_prob(self, x: jax.typing.ArrayLike) -> jax.Array:
    """`sum_i log N(x_i; loc_i, scale_i)` over the parameter axes."""
    z = (jnp.asarray(x) - self._mean) / self._scale
    per_elem = -0.5 * z * z - jnp.log(self._scale) - 0.5 * jnp.log(2 * jnp.pi)
    axes = tuple(range(-len(self._param_shape), 0))
    return jnp.sum(per_elem, axis=axes)

  @property
  def log_scale(self) -> jax.Array:
    return self._log_scale

  @property
  def params(self) -> list[jax.Array]:
    """`[loc, log_scale]` as given (not broadcast)."""
    return [self._mean, self._log_scale]


def multi_normal(
  loc: jax.typing.ArrayLike, log_scale: jax.typing.ArrayLike
) -> MultiNormalDiagFromLogScale:
  """The diagonal Gaussian with mean `loc` and standard deviation `exp(log_scale)`."""
  return MultiNormalDiagFromLogScale(loc=loc, log_scale=log_scale)
