"""Benchmark rows by area, one module each, every one defining `SPECS: tuple[OptSpec, ...]`.

`benchmarks.configs` adds them to `OPTIMIZERS`; they run when named with `--optimizers`
(or `--optimizers all`), not in the default run.
"""
