"""The server's own time for each page run, appended to the file named by `WORKBENCH_PAGE_TIMES` (unset: nothing
is written). Benchmarks set it to tell what a page costs the server apart from what the browser adds."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_write_lock = threading.Lock()  # the sessions' script threads share the file


@contextmanager
def timed(title: str) -> Iterator[None]:
    """Time the page run inside; on leaving (st.stop and reruns included) append 'title<TAB>seconds'."""
    target = os.environ.get("WORKBENCH_PAGE_TIMES")
    start = time.perf_counter()
    try:
        yield
    finally:
        if target:
            line = f"{title}\t{time.perf_counter() - start:.4f}\n"
            with _write_lock, open(target, "a", encoding="utf-8") as out:
                out.write(line)
