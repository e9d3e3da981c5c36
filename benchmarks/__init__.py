"""Benchmark scripts and the suite harness (`python -m benchmarks SUITE`); research code outside the product
package `engine`, which never imports it."""
