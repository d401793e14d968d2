"""gradtx vs Optax benchmark harness: `python -m benchmarks.bench --help`."""
