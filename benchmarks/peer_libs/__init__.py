"""Peer libraries on our data (anomalib, PyOD), for benchmarks/peers.py, native_peers.py and inference.py: the
presets, the folder scanning and staging, one module per library, the runner and the tables.

Importing any of them first makes timm/huggingface offline: the suite never downloads anything."""

import os

# Before any hub-aware import: timm/huggingface must never reach for the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
