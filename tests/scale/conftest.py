"""Fixtures of the scale-out tests: a real Ray cluster per test (tests/scale/ray_cluster.py)."""

from tests.scale.ray_cluster import ray_cluster  # noqa: F401 - the fixture, for test_ray*.py
