"""PyTorch's strong-Wolfe line search (`torch/optim/lbfgs.py`: `_strong_wolfe`,
`_cubic_interpolate`, ported there from minFunc's `lswolfe.lua`), with `lax.while_loop`.

Every branch of PyTorch's loops is a `jnp.where`/`lax.cond` on the same comparisons, in
the same order, so the trial steps, the bracket and the evaluation count are PyTorch's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from gradtx.solvers import _tree

__all__ = ["cubic_interpolate", "strong_wolfe"]


def _pymax(a, b):
  """Python's `max(a, b)`: `b` only if `b > a` (NaN keeps `a`)."""
  return jnp.where(b > a, b, a)


def _pymin(a, b):
  return jnp.where(b < a, b, a)


def cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
  """The minimizer of the cubic through `(x1, f1, g1)`, `(x2, f2, g2)`, clamped to
  `bounds` (default: the interval between `x1` and `x2`); their midpoint when the
  cubic has no real minimizer (`d1^2 - g1 g2 < 0`)."""
  if bounds is None:
    lo, hi = jnp.where(x1 <= x2, x1, x2), jnp.where(x1 <= x2, x2, x1)
  else:
    lo, hi = bounds
  d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
  d2_square = d1**2 - g1 * g2
  d2 = jnp.sqrt(jnp.where(d2_square >= 0, d2_square, 0))
  min_pos = jnp.where(
    x1 <= x2,
    x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2)),
    x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2)),
  )
  return jnp.where(d2_square >= 0, _pymin(_pymax(min_pos, lo), hi), (lo + hi) / 2.0)


def _set(pair, i, value):
  """`pair[i] = value` for a pair stacked on axis 0 (scalars or a tree)."""
  return jax.tree.map(lambda p, v: p.at[i].set(v), pair, value)


def _get(pair, i):
  return jax.tree.map(lambda p: p[i], pair)


def _stack(a, b):
  return jax.tree.map(lambda x, y: jnp.stack([x, y]), a, b)


def strong_wolfe(
  fg: Callable,
  x: Any,
  t: jax.Array,
  d: Any,
  f: jax.Array,
  g: Any,
  gtd: jax.Array,
  max_ls: jax.Array,
  c1: jax.typing.ArrayLike = 1e-4,
  c2: jax.typing.ArrayLike = 0.9,
  tolerance_change: float = 1e-9,
) -> tuple[jax.Array, Any, jax.Array, jax.Array]:
  """`(f_new, g_new, t, ls_func_evals)` of PyTorch's `_strong_wolfe(obj_func, x, t, d, f,
  g, gtd, max_ls=max_ls)`; `fg(x + t d)` returns `(loss, grad)`. As in PyTorch, the
  bracket's own `tolerance_change` is 1e-9 whatever the optimizer's is."""
  dtype = jnp.result_type(f)
  c1, c2 = jnp.asarray(c1, dtype), jnp.asarray(c2, dtype)
  d_norm = jnp.max(jnp.stack([jnp.max(jnp.abs(v)).astype(dtype) for v in jax.tree.leaves(d)]))

  def evaluate(t):
    f_new, g_new = fg(_tree.axpy(t, d, x))
    return f_new.astype(dtype), g_new, _tree.vdot(g_new, d, dtype)

  f_new, g_new, gtd_new = evaluate(t)
  zero = jnp.zeros([], dtype)
  # Bracketing phase: carry (ls_iter, t, f_new, g_new, gtd_new, t_prev, f_prev, g_prev,
  # gtd_prev, evals, stopped, done, bracket (t, f, g, gtd as stacked pairs)).
  start = dict(
    ls_iter=jnp.zeros([], jnp.int32),
    t=t,
    f_new=f_new,
    g_new=g_new,
    gtd_new=gtd_new,
    t_prev=zero,
    f_prev=f,
    g_prev=g,
    gtd_prev=gtd,
    evals=jnp.ones([], jnp.int32),
    stopped=jnp.zeros([], bool),
    done=jnp.zeros([], bool),
    br=_stack(zero, zero),
    br_f=_stack(zero, zero),
    br_g=_stack(g, g),
    br_gtd=_stack(zero, zero),
  )

  def bracket_cond(c):
    return (~c["stopped"]) & (c["ls_iter"] < max_ls)

  def bracket_body(c):
    t = c["t"]
    armijo = (c["f_new"] > (f + c1 * t * gtd)) | ((c["ls_iter"] > 1) & (c["f_new"] >= c["f_prev"]))
    curvature = jnp.abs(c["gtd_new"]) <= -c2 * gtd
    positive = c["gtd_new"] >= 0
    pair = armijo | (~curvature & positive)
    single = ~armijo & curvature

    def stop(c):
      two = dict(
        br=_stack(c["t_prev"], t),
        br_f=_stack(c["f_prev"], c["f_new"]),
        br_g=_stack(c["g_prev"], c["g_new"]),
        br_gtd=_stack(c["gtd_prev"], c["gtd_new"]),
      )
      one = dict(
        br=_stack(t, t),
        br_f=_stack(c["f_new"], c["f_new"]),
        br_g=_stack(c["g_new"], c["g_new"]),
        br_gtd=_stack(c["gtd_new"], c["gtd_new"]),
      )
      return dict(
        c,
        **jax.tree.map(lambda a, b: jnp.where(pair, a, b), two, one),
        stopped=jnp.ones([], bool),
        done=single,
      )

    def advance(c):
      min_step = t + 0.01 * (t - c["t_prev"])
      max_step = t * 10
      t_new = cubic_interpolate(
        c["t_prev"], c["f_prev"], c["gtd_prev"], t, c["f_new"], c["gtd_new"], (min_step, max_step)
      )
      f_n, g_n, gtd_n = evaluate(t_new)
      return dict(
        c,
        t=t_new,
        t_prev=t,
        f_prev=c["f_new"],
        g_prev=c["g_new"],
        gtd_prev=c["gtd_new"],
        f_new=f_n,
        g_new=g_n,
        gtd_new=gtd_n,
        evals=c["evals"] + 1,
        ls_iter=c["ls_iter"] + 1,
      )

    return jax.lax.cond(pair | single, stop, advance, c)

  c = jax.lax.while_loop(bracket_cond, bracket_body, start)
  exhausted = c["ls_iter"] == max_ls  # reached max_ls without a bracket: [0, t]
  fallback = dict(
    br=_stack(zero, c["t"]),
    br_f=_stack(f, c["f_new"]),
    br_g=_stack(g, c["g_new"]),
    br_gtd=c["br_gtd"],
  )
  keys = ("br", "br_f", "br_g", "br_gtd")
  c = dict(
    c, **jax.tree.map(lambda a, b: jnp.where(exhausted, a, b), fallback, {k: c[k] for k in keys})
  )
  low = jnp.where(c["br_f"][0] <= c["br_f"][-1], 0, 1)
  z = dict(
    ls_iter=c["ls_iter"],
    evals=c["evals"],
    done=c["done"],
    small=jnp.zeros([], bool),
    insuf=jnp.zeros([], bool),
    low=low,
    high=1 - low,
    **{k: c[k] for k in keys},
  )

  # Zoom phase.
  def zoom_cond(z):
    return (~z["done"]) & (z["ls_iter"] < max_ls) & (~z["small"])

  def zoom_body(z):
    br = z["br"]
    small = jnp.abs(br[1] - br[0]) * d_norm < tolerance_change

    def trial(z):
      br, br_f, br_gtd, low, high = z["br"], z["br_f"], z["br_gtd"], z["low"], z["high"]
      t = cubic_interpolate(br[0], br_f[0], br_gtd[0], br[1], br_f[1], br_gtd[1])
      bmax, bmin = _pymax(br[0], br[1]), _pymin(br[0], br[1])
      eps = 0.1 * (bmax - bmin)
      near = _pymin(bmax - t, t - bmin) < eps
      move = near & (z["insuf"] | (t >= bmax) | (t <= bmin))
      moved = jnp.where(jnp.abs(t - bmax) < jnp.abs(t - bmin), bmax - eps, bmin + eps)
      t = jnp.where(move, moved, t)
      insuf = near & ~move
      f_new, g_new, gtd_new = evaluate(t)
      new = (t, f_new, g_new, gtd_new)
      old = (br, br_f, z["br_g"], br_gtd)
      worse = (f_new > (f + c1 * t * gtd)) | (f_new >= br_f[low])
      # Armijo fails or not below the lowest point: the new point replaces the high end.
      a = tuple(_set(o, high, n) for o, n in zip(old, new))
      a_low = jnp.where(a[1][0] <= a[1][1], 0, 1)
      # Otherwise: Wolfe holds (done), or the old high becomes the low; new point is the low.
      done = jnp.abs(gtd_new) <= -c2 * gtd
      flip = ~done & (gtd_new * (br[high] - br[low]) >= 0)
      b = tuple(jax.tree.map(lambda x: jnp.where(flip, x.at[high].set(x[low]), x), o) for o in old)
      b = tuple(_set(o, low, n) for o, n in zip(b, new))
      out = tuple(jax.tree.map(lambda x, y: jnp.where(worse, x, y), p, q) for p, q in zip(a, b))
      return dict(
        z,
        br=out[0],
        br_f=out[1],
        br_g=out[2],
        br_gtd=out[3],
        low=jnp.where(worse, a_low, low),
        high=jnp.where(worse, 1 - a_low, high),
        done=~worse & done,
        insuf=insuf,
        evals=z["evals"] + 1,
        ls_iter=z["ls_iter"] + 1,
      )

    return jax.lax.cond(small, lambda z: dict(z, small=jnp.ones([], bool)), trial, z)

  z = jax.lax.while_loop(zoom_cond, zoom_body, z)
  low = z["low"]
  return z["br_f"][low], _get(z["br_g"], low), z["br"][low], z["evals"]
