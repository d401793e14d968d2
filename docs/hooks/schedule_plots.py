"""MkDocs hook: plots of gradtx.schedules, drawn with matplotlib at build time.

Each schedule factory in `gradtx.schedules.__all__` with an example below gets a PNG
(`assets/schedules/<name>.png`, written into the site, never committed). The API page
shows each plot under its schedule's entry, and the Schedules topic page (docs/schedules.md,
unchanged on disk) gets a gallery of all of them appended when it is rendered.
`NOT_PLOTTED` names the exports that are not a schedule of the step (classes, wrappers of a
whole transformation); tests/test_docs_site.py checks that every export is in one or the other.
"""

from __future__ import annotations

import functools
import io

STEPS = 1000
PLOT_DIR = "assets/schedules"


def _examples() -> dict:
  """{factory name: [(label, schedule)]}: Optax-like arguments over STEPS steps."""
  from gradtx import schedules as s

  cos = dict(init_value=0.0, peak_value=1.0, warmup_steps=50, decay_steps=300, end_value=0.0)
  return {
    "constant_schedule": [("value=1", s.constant_schedule(1.0))],
    "linear_schedule": [("1 -> 0.1 over 800, begin 100",
                         s.linear_schedule(1.0, 0.1, transition_steps=800, transition_begin=100))],
    "polynomial_schedule": [
      (f"power={p}", s.polynomial_schedule(1.0, 0.0, power=p, transition_steps=800,
                                           transition_begin=100)) for p in (0.5, 1, 2)],
    "exponential_decay": [
      ("rate 0.5 per 200", s.exponential_decay(1.0, transition_steps=200, decay_rate=0.5)),
      ("staircase", s.exponential_decay(1.0, transition_steps=200, decay_rate=0.5,
                                        staircase=True))],
    "inverse_time_decay": [("rate 1 per 100", s.inverse_time_decay(1.0, 1.0, decay_steps=100))],
    "inverse_sqrt_decay": [("k=1, offset=1", s.inverse_sqrt_decay(1.0))],
    "cosine_decay_schedule": [
      (f"alpha={a}, exponent={e}", s.cosine_decay_schedule(1.0, 800, alpha=a, exponent=e))
      for a, e in ((0.0, 1.0), (0.1, 1.0), (0.0, 2.0))],
    "piecewise_constant_schedule": [
      ("x0.5 at 300, 600", s.piecewise_constant_schedule(1.0, {300: 0.5, 600: 0.5}))],
    "piecewise_interpolate_schedule": [
      (kind, s.piecewise_interpolate_schedule(kind, 1.0, {300: 0.5, 600: 0.2}))
      for kind in ("linear", "cosine")],
    "join_schedules": [("linear warmup, then cosine", s.join_schedules(
      [s.linear_schedule(0.0, 1.0, 100), s.cosine_decay_schedule(1.0, 900)], [100]))],
    "epoch_schedule": [("cosine over 10 epochs of 100 steps",
                        s.epoch_schedule(s.cosine_decay_schedule(1.0, 10), 100))],
    "warmup_constant_schedule": [("warmup 200", s.warmup_constant_schedule(0.0, 1.0, 200))],
    "warmup_cosine_decay_schedule": [("warmup 100, end 0.05", s.warmup_cosine_decay_schedule(
      0.0, 1.0, warmup_steps=100, decay_steps=1000, end_value=0.05))],
    "warmup_exponential_decay_schedule": [("warmup 100, rate 0.7 per 100",
                                           s.warmup_exponential_decay_schedule(
                                             0.0, 1.0, 100, transition_steps=100, decay_rate=0.7))],
    "linear_onecycle_schedule": [("T=1000", s.linear_onecycle_schedule(1000, 1.0))],
    "cosine_onecycle_schedule": [("T=1000", s.cosine_onecycle_schedule(1000, 1.0))],
    "sgdr_schedule": [("3 cycles of 350", s.sgdr_schedule([cos, cos, cos]))],
  }


NOT_PLOTTED = frozenset({
  "Schedule", "ScheduleArgumentWarning", "StatefulSchedule", "WrappedSchedule",
  "WrappedScheduleState", "inject_hyperparams", "inject_stateful_hyperparams",
  "InjectHyperparamsState", "InjectStatefulHyperparamsState",
})


def _values(schedule):
  import jax
  import jax.numpy as jnp
  import numpy as np

  steps = jnp.arange(STEPS)
  try:
    return np.asarray(jax.jit(jax.vmap(schedule))(steps))
  except Exception:  # a schedule that does not vmap: step by step  # noqa: BLE001
    return np.asarray([schedule(t) for t in range(STEPS)])


def render(name: str, curves) -> bytes:
  """The PNG of one factory's example curves."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  import numpy as np

  fig, ax = plt.subplots(figsize=(4.2, 2.4), dpi=100)
  top = 0.0
  for label, schedule in curves:
    values = _values(schedule)
    top = max(top, float(np.max(values)))
    ax.plot(np.arange(STEPS), values, label=label, lw=1.6)
  ax.set_ylim(0.0, 1.08 * top if top > 0 else 1.0)  # every example is >= 0: show the zero
  ax.set_title(name, fontsize=10, family="monospace")
  ax.set_xlabel("step count", fontsize=8)
  ax.tick_params(labelsize=7)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7, frameon=False)
  fig.tight_layout()
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png")
  plt.close(fig)
  return buffer.getvalue()


@functools.cache
def plots() -> dict[str, bytes]:
  return {name: render(name, curves) for name, curves in _examples().items()}


# -- MkDocs events ---------------------------------------------------------------------------


def on_files(files, config, **kwargs):
  from mkdocs.structure.files import File

  for name, png in plots().items():
    files.append(File.generated(config, f"{PLOT_DIR}/{name}.png", content=png))
  return files


def on_page_markdown(markdown, page, config, files, **kwargs):
  src = page.file.src_uri
  if src == "api/schedules.md":
    for name in plots():
      marker = "<!-- entry: gradtx.schedules."
      for line in markdown.splitlines():
        if line.startswith(marker) and line.rstrip(" ->").endswith(f".{name}"):
          image = f'![{name}](../{PLOT_DIR}/{name}.png){{ .gradtx-plot loading=lazy }}\n'
          markdown = markdown.replace(line, line + "\n" + image, 1)
  elif src == "schedules.md":
    figures = "\n".join(  # the plot's title names the schedule
      f'<figure markdown="span">![{name}]({PLOT_DIR}/{name}.png)</figure>' for name in plots())
    markdown += ("\n\n## Plots\n\nDrawn with matplotlib from `gradtx.schedules` when this site"
                 f" is built, over {STEPS} steps.\n\n"
                 f'<div class="gradtx-plots" markdown>\n{figures}\n</div>\n')
  return markdown
