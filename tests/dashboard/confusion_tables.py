"""Reading Compare's confusion tables back from an AppTest: each run's matrix ([[TN, FP], [FN, TP]]) by its title."""

from __future__ import annotations

import html
import re
from typing import Any

TITLE = re.compile(r'<div class="confusion"><b>(.*?)</b>')
CELL = re.compile(r'data-cell="(tn|fp|fn|tp)"[^>]*>[A-Z]{2}<br><b>(\d+)</b>')


def confusion_tables(at: Any) -> dict[str, list[list[int]]]:
    """{'deep_svdd #3 at 0.512': [[tn, fp], [fn, tp]], ...} for every confusion table the page run drew."""
    found = {}
    for block in at.markdown:
        title = TITLE.search(block.value)
        if title:
            cells = dict(CELL.findall(block.value))
            found[html.unescape(title.group(1))] = [
                [int(cells["tn"]), int(cells["fp"])],
                [int(cells["fn"]), int(cells["tp"])],
            ]
    return found
