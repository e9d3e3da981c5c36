#!/usr/bin/env bash
# Make .venv-peers for benchmarks/peers.py: anomalib + PyOD on top of the system torch, which is never replaced.
#
#   bash benchmarks/setup_peers.sh        # idempotent: a second run with unchanged pins does nothing
#
# The venv sees the system site-packages (torch, torchvision, numpy, scikit-learn, ... of requirements.txt);
# a constraint file written from the system's installed versions keeps pip from upgrading torch, torchvision
# or numpy inside it. Environment: PYTHON (default python3) is the system interpreter to build on.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY="${PYTHON:-python3}"
VENV=.venv-peers
REQ=benchmarks/requirements-peers.txt

if ! "$PY" -c "import torch, torchvision, numpy" 2>/dev/null; then
    echo "error: $PY has no torch/torchvision/numpy; install the app's requirements.txt first" >&2
    exit 1
fi

constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
"$PY" - >"$constraints" <<'EOF'
from importlib.metadata import version

for name in ("torch", "torchvision", "numpy"):
    print(f"{name}=={version(name).split('+')[0]}")  # the local tag (+cpu, +cu130) is left to the installed wheel
EOF

if [ ! -x "$VENV/bin/python" ]; then
    echo "creating $VENV (with system site-packages)"
    "$PY" -m venv --system-site-packages "$VENV"
fi

stamp="$VENV/.peers-installed"
want="$(cat "$REQ" "$constraints" | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "$VENV is up to date with $REQ"
else
    "$VENV/bin/pip" install --disable-pip-version-check -r "$REQ" -c "$constraints"
    echo "$want" >"$stamp"
fi

# The venv must import the system's torch, not a copy of its own, and the peer libraries must import.
"$VENV/bin/python" - "$constraints" <<'EOF'
import sys
from importlib.metadata import version
from pathlib import Path

import torch

wanted = dict(line.strip().split("==") for line in Path(sys.argv[1]).read_text().splitlines() if line.strip())
for name, pinned in wanted.items():
    have = version(name).split("+")[0]
    if have != pinned:
        sys.exit(f"error: .venv-peers has {name} {have}, the system has {pinned}; delete .venv-peers and rerun")
if Path(sys.prefix) in Path(torch.__file__).resolve().parents:
    sys.exit(f"error: torch was installed into the venv ({torch.__file__}); delete .venv-peers and rerun")
import anomalib  # noqa: E402,F401
import pyod  # noqa: E402,F401

print(f"ok: torch {version('torch')} (system), torchvision {version('torchvision')}, "
      f"anomalib {version('anomalib')}, pyod {version('pyod')}")
EOF
