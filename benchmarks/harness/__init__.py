"""The benchmark suites (`python -m benchmarks SUITE`): the grid of runs, the suites, their rows and tables, the
variants and the per-image scores."""
