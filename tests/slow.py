"""Members of parametrized tests that the inner loop (`pytest -m "not slow"`) leaves to CI: `marked_slow` marks the
chosen keys `slow`; by default the methods whose smoke fit takes seconds rather than a fraction of one (GANs,
SimCLR and CutPaste fine-tuning a backbone, VAE fusion), so every method stays covered once in the inner loop."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

SLOW_TO_FIT = frozenset({"anogan", "cutpaste", "simclr_local", "vae_fusion", "vaegan"})


def marked_slow(keys: Iterable[str], slow: Iterable[str] = SLOW_TO_FIT) -> list:
    """`keys` sorted, as pytest parameters; those in `slow` marked slow (CI runs them, the inner loop not)."""
    slow = frozenset(slow)
    return [pytest.param(k, marks=pytest.mark.slow) if k in slow else k for k in sorted(keys)]
