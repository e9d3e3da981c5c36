"""Text people typed (names, notes, comments, defect types, dataset and image names), shown as typed wherever
Streamlit renders Markdown: `st.markdown`, `st.caption`, alerts, widget labels, expander and tab titles,
image captions and `st.table` cells. Unescaped, `![a](http://host/x.png)` in a name makes every viewer's
browser fetch that address."""

from __future__ import annotations

import re

import pandas as pd

# Marks that start Markdown anywhere in a line (CommonMark, GitHub's tables and strikethrough, Streamlit's
# math and :directives[...]); backslash-escaped, each is plain text. Bare addresses (http://..., www.x.y) are
# still made links by GitHub's autolinking, which works on the unescaped text: shown as typed, never fetched.
_ANYWHERE = re.compile(r"([\\`*\[\]<>~$|&:]|(?<![^\W_])_|_(?![^\W_]))")  # '_' inside a word starts nothing
_ICON = re.compile(r"(?<=material)/")  # Streamlit turns ':material/x:' into an icon before it reads escapes
# Marks that start a block only at the start of a line: heading, list, setext underline, e.g. '1. ', '- '
_LINE_START = re.compile(r"(?<![^\n\r])([ \t]*)(\d{1,9}(?=[.)])|(?=[#=+\-]))(.)")


def literal(text: object) -> str:
    """`str(text)` escaped for Markdown, so that it shows exactly as typed (on one line or several)."""
    text = _ICON.sub(r"\/", _ANYWHERE.sub(r"\\\1", str(text)))
    return _LINE_START.sub(r"\1\2\\\3", text)


def literal_table(table: pd.DataFrame) -> pd.DataFrame:
    """`table` with its text cells and column names escaped (for `st.table`, whose cells are Markdown)."""
    out = table.rename(columns=lambda c: literal(c) if isinstance(c, str) else c)
    for column in out.columns:
        if not pd.api.types.is_numeric_dtype(out[column]):
            out[column] = out[column].map(lambda v: literal(v) if isinstance(v, str) else v)
    return out
