"""Copy the benchmark summaries in benchmarks/results/*.md into the documents that show them (docs/results.md,
and README.md should it hold a block) between their markers.

Each `<!-- results:NAME -->` ... `<!-- /results:NAME -->` block is replaced by benchmarks/results/NAME.md, so
every figure in the documents is what a suite printed.

    python benchmarks/readme_tables.py          # rewrite the documents in place
    python benchmarks/readme_tables.py --check  # exit 1 when a document differs from the results
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT / "benchmarks" / "results"
DOCUMENTS = (PROJECT / "docs" / "results.md", PROJECT / "README.md")
BLOCK = re.compile(r"(<!-- results:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /results:(?P=name) -->)", re.S)


def filled(readme: str, results: Path = RESULTS) -> str:
    """`readme` with every results block replaced by the matching summary (missing ones say so)."""

    def replace(match: re.Match[str]) -> str:
        path = results / f"{match['name']}.md"
        if path.is_file():
            body = path.read_text().strip() + "\n"
        else:
            body = f"(not measured yet: the command above writes benchmarks/results/{match['name']}.md)\n"
        return match.group(1) + body + match.group(4)

    return BLOCK.sub(replace, readme)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    stale = []
    for document in DOCUMENTS:
        before = document.read_text()
        after = filled(before)
        name = document.relative_to(PROJECT)
        if args.check:
            if after != before:
                stale.append(name)
            continue
        document.write_text(after)
        print(f"{name}: {len(BLOCK.findall(before))} results blocks filled")
    for name in stale:
        print(f"{name} is out of date with benchmarks/results: run python benchmarks/readme_tables.py")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
