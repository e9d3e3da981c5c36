"""Anomaly Workbench engine: data, methods, metrics, runs and tracking (no UI)."""
