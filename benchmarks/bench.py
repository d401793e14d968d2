"""gradtx vs Optax, side by side in one process.

    python -m benchmarks.bench                  # full run (see benchmarks/README.md)
    python -m benchmarks.bench --quick          # smoke run, about a minute
    python -m benchmarks.bench --markdown       # tables ready for BENCHMARKS.md
    python -m benchmarks.bench --profile adam:100mixed   # HLO fusion / kernel counts
    python -m benchmarks.bench --state-dtype bfloat16    # low-precision Adam state

Per (optimizer, tree) it compiles `step(grads, opt_state, params) -> (opt_state, params)`
(update + apply_updates, opt_state and params donated) freshly for each library, times
the steps interleaved with each other and with a memory-bandwidth floor, and reports
medians, ratios, compile times and optimizer-state bytes.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import jax
import jax.numpy as jnp

import gradtx
import optax
from benchmarks import configs, hlo, lowp, measure, report

LIBS = (("gradtx", gradtx), ("optax", optax))
LOWP_OPTIMIZERS = ("adam", "adamw")
QUICK_TREES = ("1x16M", "100mixed")
LOWP_TREES = ("1x16M", "100mixed")  # default trees of --state-dtype (bandwidth-bound ones)

MAIN_HEADERS = ["optimizer", "tree", "gradtx ms", "optax ms", "gradtx/optax", "floor ms",
                "gradtx/floor", "optax/floor", "compile s gradtx", "compile s optax",
                "compile gradtx/optax", "state MB gradtx", "state MB optax"]
DIAG_HEADERS = ["optimizer", "tree", "faults/step gradtx", "faults/step optax",
                "faults/step floor", "floor MB/step", "floor GB/s", "flat floor ms", "lower s gradtx",
                "lower s optax", "spread % gradtx", "spread % optax"]
LOWP_HEADERS = ["optimizer", "tree", "state MB f32", "state MB low", "f32 ms", "low ms",
                "low/f32", "floor f32 ms", "floor low ms", "low/floor low"]


# ------------------------------------------------------------------ CLI


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
  p = argparse.ArgumentParser(
      prog="python -m benchmarks.bench", description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--optimizers", default=None,
                 help="comma list or 'all' (default: the core rows; benchmarks/rows/ add more): "
                      f"{','.join(configs.OPTIMIZERS)}")
  p.add_argument("--trees", default=None,
                 help=f"comma list or 'all' (default all; --quick: {','.join(QUICK_TREES)}): "
                 f"{','.join(configs.TREES)}")
  p.add_argument("--repeats", type=int, default=None,
                 help="timed rounds per contender, interleaved (default 9; --quick 3)")
  p.add_argument("--steps", type=int, default=None,
                 help="steps per timed round (default 1; --quick 1)")
  p.add_argument("--warmup", type=int, default=None,
                 help="untimed steps per contender first (default 2; --quick 1)")
  p.add_argument("--compile-repeats", type=int, default=1,
                 help="fresh compiles per step function; the fastest is reported (default 1)")
  p.add_argument("--quick", action="store_true", help="short smoke run")
  p.add_argument("--markdown", action="store_true", help="print Markdown tables")
  p.add_argument("--profile", nargs="?", const="", default=None, metavar="OPT:TREE",
                 help="HLO fusion/kernel counts for one config (default: the first "
                 "selected optimizer and tree); skips the timing tables")
  p.add_argument("--profile-dir", default=None,
                 help="with --profile, also write the optimized HLO texts there")
  p.add_argument("--state-dtype", default=None, metavar="DTYPE",
                 help="also run the low-precision-state section (e.g. bfloat16): "
                 "gradtx adam/adamw with float32 vs DTYPE state (trees: --trees if "
                 f"given, else {','.join(LOWP_TREES)}) and a training-accuracy check")
  p.add_argument("--accuracy-steps", type=int, default=None,
                 help="training steps of the accuracy check (default 2000; --quick 300)")
  p.add_argument("--skip-main", action="store_true",
                 help="skip the gradtx-vs-Optax tables (e.g. only --state-dtype)")
  p.add_argument("--return-order", choices=("params", "state"), default="state",
                 help="what step returns: 'state' = (opt_state, params) (default), the "
                 "order the donated args come in, so that donated buffers alias themselves "
                 "(no copies); 'params' = (params, opt_state), where jax pairs donated "
                 "buffers with outputs of another role and XLA adds copies (both libraries)")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--json", default=None, metavar="PATH", help="write raw results as JSON")
  args = p.parse_args(argv)
  quick = args.quick
  for name, full, short in (("repeats", 9, 3), ("steps", 1, 1), ("warmup", 2, 1),
                            ("accuracy_steps", 2000, 300)):
    if getattr(args, name) is None:
      setattr(args, name, short if quick else full)
  if args.state_dtype is not None:
    try:
      jnp.dtype(args.state_dtype)
    except TypeError:
      p.error(f"--state-dtype: not a dtype: {args.state_dtype!r}")
  args.opt_names = _select(p, args.optimizers, configs.OPTIMIZERS,
                           [n for n, s in configs.OPTIMIZERS.items() if s.default])
  args.tree_names = _select(p, args.trees, configs.TREES,
                            list(QUICK_TREES) if quick else list(configs.TREES))
  return args


def _select(parser, arg: str | None, table: dict, default: list[str]) -> list[str]:
  if arg is None:
    return default
  names = list(table) if arg == "all" else [s.strip() for s in arg.split(",") if s.strip()]
  unknown = [n for n in names if n not in table]
  if unknown:
    parser.error(f"unknown {unknown}; choose from {list(table)}")
  return names


# ------------------------------------------------------------------ contenders


def _lib_contender(name: str, lib: Any, spec: configs.OptSpec, params_host: Any, grads: Any,
                   args: argparse.Namespace, **build_kw: Any):
  tx = spec.build(lib, **build_kw)
  params = measure.copy_tree(params_host)
  state = tx.init(params)
  state_first = args.return_order == "state"
  compiled = measure.compile_fresh(
      lambda: measure.make_step(tx, lib.apply_updates, state_first),
      (grads, state, params), args.compile_repeats, spec.donate)
  return (measure.Contender(name, compiled, grads, state, params, state_first),
          measure.tree_nbytes(state))


def _floor_contender(spec: configs.OptSpec, params_host: Any, grads: Any,
                     state_dtype: Any = jnp.float32):
  buffers = measure.floor_buffers(params_host, spec.n_state, state_dtype)
  compiled = measure.compile_fresh(lambda: measure.make_floor(spec.norm_pass),
                                   (grads, buffers, ()))
  traffic = (measure.tree_nbytes(grads) * (1 + spec.norm_pass)
             + 2 * measure.tree_nbytes(buffers))
  return measure.Contender("floor", compiled, grads, buffers, ()), traffic


def _flat_floor(spec: configs.OptSpec, grads: Any) -> measure.Contender | None:
  """The floor for the same bytes as one leaf (all leaves concatenated): the floor minus
  per-leaf (per-kernel) overheads. None for a one-leaf tree (same as the floor)."""
  leaves = jax.tree.leaves(grads)
  if len(leaves) == 1:
    return None
  flat_grads = {"flat": jnp.concatenate([x.ravel() for x in leaves])}
  flat_params = {"flat": jax.ShapeDtypeStruct(flat_grads["flat"].shape, jnp.float32)}
  contender, _ = _floor_contender(spec, flat_params, flat_grads)
  contender.name = "flat_floor"
  return contender


def _tree_data(tree_name: str, seed: int):
  spec = configs.TREES[tree_name]
  params_host = configs.make_tree(spec, seed)
  grads = measure.copy_tree(configs.make_tree(spec, seed + 1, scale=1e-2))
  return params_host, grads


def _mb(nbytes: int) -> str:
  """Megabytes (1e6 bytes); tiny scalar-only states in bytes."""
  return f"{nbytes / 1e6:.1f}" if nbytes >= 10_000 else f"{nbytes} B"


def _spread(c: measure.Contender) -> float:
  """(max - min) / median of the timed rounds, in percent: a noise indicator."""
  return 100 * (max(c.times) - min(c.times)) * 1e3 / c.median_ms


# ------------------------------------------------------------------ sections


def _bench_config(opt_name: str, tree_name: str, params_host: Any, grads: Any,
                  args: argparse.Namespace, optax_first: bool) -> tuple[list, list, dict]:
  """One (optimizer, tree): compile both libraries and the floor, time them interleaved."""
  spec = configs.OPTIMIZERS[opt_name]
  # Alternate which library compiles first: the second one finds jax's caches of small
  # inner jitted helpers (jnp.where, ...) warm.
  order = LIBS[::-1] if optax_first else LIBS
  built = {n: _lib_contender(n, lib, spec, params_host, grads, args) for n, lib in order}
  (g, g_state), (o, o_state) = built["gradtx"], built["optax"]
  floor, traffic = _floor_contender(spec, params_host, grads)
  contenders = [g, o, floor]
  flat = _flat_floor(spec, grads)
  if flat is not None:
    contenders.append(flat)
  measure.time_interleaved(contenders, args.repeats, args.steps, args.warmup)
  gc, oc = g.compiled, o.compiled
  row = [opt_name, tree_name, g.median_ms, o.median_ms, g.median_ms / o.median_ms,
         floor.median_ms, g.median_ms / floor.median_ms, o.median_ms / floor.median_ms,
         gc.total_s, oc.total_s, gc.total_s / oc.total_s, _mb(g_state), _mb(o_state)]
  diag = [opt_name, tree_name, g.faults_per_step, o.faults_per_step, floor.faults_per_step,
          traffic / 1e6, traffic / 1e9 / (floor.median_ms / 1e3),
          flat.median_ms if flat is not None else floor.median_ms, gc.lower_s, oc.lower_s,
          _spread(g), _spread(o)]
  record = {"optimizer": opt_name, "tree": tree_name,
            "gradtx_state_bytes": g_state, "optax_state_bytes": o_state,
            "floor_traffic_bytes": traffic}
  for c in contenders:
    record.update({f"{c.name}_step_ms": c.median_ms,
                   f"{c.name}_step_times_ms": [1e3 * t for t in c.times],
                   f"{c.name}_faults_per_step": c.faults_per_step,
                   f"{c.name}_lower_s": c.compiled.lower_s,
                   f"{c.name}_compile_s": c.compiled.compile_s})
  for c in contenders:
    c.release()
  return row, diag, record


def run_main(args: argparse.Namespace) -> tuple[list, list, list]:
  rows, diags, records = [], [], []
  for tree_name in args.tree_names:
    params_host, grads = _tree_data(tree_name, args.seed)
    for opt_name in args.opt_names:
      t0 = time.perf_counter()
      row, diag, record = _bench_config(opt_name, tree_name, params_host, grads, args,
                                        optax_first=len(rows) % 2 == 1)
      rows.append(row)
      diags.append(diag)
      records.append(record)
      report.log(f"  {opt_name:10s} {tree_name:9s} gradtx {row[2]:8.2f} ms  "
                 f"optax {row[3]:8.2f} ms  floor {row[5]:8.2f} ms  compile "
                 f"{record['gradtx_lower_s'] + record['gradtx_compile_s']:6.2f}/"
                 f"{record['optax_lower_s'] + record['optax_compile_s']:6.2f}/"
                 f"{record['floor_lower_s'] + record['floor_compile_s']:5.2f} s  "
                 f"({time.perf_counter() - t0:.1f} s)")
  return rows, diags, records


def _lowp_names(args: argparse.Namespace) -> list[str]:
  return [n for n in args.opt_names if n in LOWP_OPTIMIZERS] or list(LOWP_OPTIMIZERS)


def run_state_dtype(args: argparse.Namespace) -> tuple[list, list, list]:
  low = jnp.dtype(args.state_dtype)
  names = _lowp_names(args)
  rows, records = [], []
  trees = args.tree_names if args.trees else [t for t in args.tree_names if t in LOWP_TREES]
  for tree_name in trees:
    params_host, grads = _tree_data(tree_name, args.seed)
    for opt_name in names:
      spec = configs.OPTIMIZERS[opt_name]
      f32, f32_state = _lib_contender("f32", gradtx, spec, params_host, grads, args)
      lp, lp_state = _lib_contender("low", gradtx, spec, params_host, grads, args,
                                    state_dtype=low)
      floor32, _ = _floor_contender(spec, params_host, grads)
      floorlp, _ = _floor_contender(spec, params_host, grads, low)
      floorlp.name = "floor_low"
      contenders = [f32, lp, floor32, floorlp]
      measure.time_interleaved(contenders, args.repeats, args.steps, args.warmup)
      rows.append([opt_name, tree_name, _mb(f32_state), _mb(lp_state), f32.median_ms,
                   lp.median_ms, lp.median_ms / f32.median_ms, floor32.median_ms,
                   floorlp.median_ms, lp.median_ms / floorlp.median_ms])
      records.append({"optimizer": opt_name, "tree": tree_name, "state_dtype": low.name,
                      **{f"{c.name}_step_ms": c.median_ms for c in contenders},
                      "f32_state_bytes": f32_state, "low_state_bytes": lp_state})
      for c in contenders:
        c.release()
      report.log(f"  {opt_name:10s} {tree_name:9s} f32 {rows[-1][4]:8.2f} ms  "
                 f"{low.name} {rows[-1][5]:8.2f} ms")
  report.log(f"  accuracy: {args.accuracy_steps} steps per run ...")
  acc = lowp.accuracy_rows(names, low, args.accuracy_steps)
  return rows, acc, records


def run_profile(args: argparse.Namespace) -> tuple[str, dict]:
  if args.profile:
    try:
      opt_name, tree_name = args.profile.split(":")
      spec, _ = configs.OPTIMIZERS[opt_name], configs.TREES[tree_name]
    except (ValueError, KeyError):
      raise SystemExit(f"--profile wants OPT:TREE with OPT in {list(configs.OPTIMIZERS)} "
                       f"and TREE in {list(configs.TREES)}, got {args.profile!r}")
  else:
    opt_name, tree_name = args.opt_names[0], args.tree_names[0]
    spec = configs.OPTIMIZERS[opt_name]
  params_host, grads = _tree_data(tree_name, args.seed)
  texts = {}
  for name, lib in LIBS:
    c, _ = _lib_contender(name, lib, spec, params_host, grads, args)
    texts[name] = c.compiled.fn.as_text()
    c.release()
  c, _ = _floor_contender(spec, params_host, grads)
  texts["floor"] = c.compiled.fn.as_text()
  c.release()
  profiles = {k: hlo.profile(t) for k, t in texts.items()}
  if args.profile_dir:
    import pathlib
    out = pathlib.Path(args.profile_dir)
    out.mkdir(parents=True, exist_ok=True)
    for k, t in texts.items():
      (out / f"{opt_name}_{tree_name}_{k}.hlo.txt").write_text(t)
  keys = ["fusion_computations", "kernels", "array_kernels", "fusions", "copies",
          "array_copies", "copy_MB", "entry_instructions", "computations"]
  extra = sorted({k for p in profiles.values() for k in p["fusions_by_kind"]})
  opcodes = sorted({k for p in profiles.values() for k in p["entry_opcodes"]})
  rows = [[k] + [p[k] for p in profiles.values()] for k in keys]
  rows += [[f"fusions {k}"] + [p["fusions_by_kind"].get(k, 0) for p in profiles.values()]
           for k in extra]
  rows += [[f"entry op {k}"] + [p["entry_opcodes"].get(k, 0) for p in profiles.values()]
           for k in opcodes]
  n_leaves = len(configs.leaf_shapes(configs.TREES[tree_name]))
  title = f"HLO profile: {opt_name} on {tree_name} ({n_leaves} leaves)"
  text = (report.section(title, args.markdown) + "\n"
          + report.table(["count"] + list(profiles), rows, args.markdown, left=1))
  return text, {"optimizer": opt_name, "tree": tree_name, "profiles": profiles}


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> None:
  args = parse_args(argv)
  jax.config.update("jax_enable_compilation_cache", False)
  t_start = time.perf_counter()
  md = args.markdown
  settings = {"step returns": "(opt_state, params)" if args.return_order == "state"
              else "(params, opt_state)", "repeats": args.repeats, "steps/round": args.steps, "warmup": args.warmup,
              "compile_repeats": args.compile_repeats, "quick": args.quick}
  info = report.machine_info()
  print(report.section("Machine", md))
  print(report.header(info, settings, md))
  out: dict[str, Any] = {"machine": info, "settings": settings}

  if args.profile is not None:
    text, prof = run_profile(args)
    print(text)
    out["profile"] = prof
  else:
    print(report.section("Trees (float32)", md))
    print("\n".join(("- " if md else "  ") + configs.describe(configs.TREES[t])
                    for t in args.tree_names))
    print(report.section("Optimizers (built identically in both libraries)", md))
    listed = _lowp_names(args) if args.skip_main else args.opt_names
    print("\n".join(("- " if md else "  ") + f"{n}: {configs.OPTIMIZERS[n].label}"
                    for n in listed))
    if not args.skip_main:
      rows, diag, records = run_main(args)
      print(report.section("Step time, compile time, state size (median; ratios < 1 "
                           "favour gradtx)", md))
      print(report.table(MAIN_HEADERS, rows, md))
      print(report.section("Diagnostics (minor page faults per step, floor bandwidth, "
                           "lowering time, timing spread)", md))
      print(report.table(DIAG_HEADERS, diag, md))
      out["main"] = records
    if args.state_dtype:
      rows, acc, records = run_state_dtype(args)
      low = jnp.dtype(args.state_dtype).name
      print(report.section(f"Low-precision state: gradtx float32 vs {low} state", md))
      print(report.table(LOWP_HEADERS, rows, md))
      print(report.section(f"Accuracy: final training loss, float32 vs {low} state "
                           "(full batch, fixed seeds)", md))
      print(report.table(lowp.ACCURACY_HEADERS, acc, md))
      out["state_dtype"] = {"timing": records,
                            "accuracy": [dict(zip(lowp.ACCURACY_HEADERS, r)) for r in acc]}
  total = time.perf_counter() - t_start
  print(f"\n{'_' if md else ''}total wall time: {total:.0f} s{'_' if md else ''}")
  out["total_s"] = total
  if args.json:
    with open(args.json, "w") as f:
      json.dump(out, f, indent=1, default=str)


if __name__ == "__main__":
  main()
