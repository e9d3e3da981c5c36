"""Entry point of `python -m benchmarks SUITE [options]` (benchmarks/harness/cli.py)."""

import sys

from benchmarks.harness.cli import main

if __name__ == "__main__":
    sys.exit(main())
