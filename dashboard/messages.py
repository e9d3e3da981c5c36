"""Messages for people: no server paths, no Python class names, whatever an error's text held."""

from __future__ import annotations

import re

_PATH = re.compile(r"(?<![\w.>*])(?:[A-Za-z]:)?(?:/|\\)[^\s'\",;:()]+")  # an absolute path on the server
_CLASS_PREFIX = re.compile(r"^\s*(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception|Warning):\s*")


def for_people(text: str, names: dict[str, str] | None = None, path_word: str = "the upload") -> str:
    """`text` with each known path replaced by its name for people (e.g. the staged file by the uploaded
    name), any other server path by `path_word`, and a leading 'module.SomeError: ' dropped."""
    for path, name in sorted((names or {}).items(), key=lambda kv: -len(kv[0])):
        text = text.replace(path, name)
    text = _CLASS_PREFIX.sub("", text)
    return _PATH.sub(path_word, text)


def name_from_file(file_name: str) -> str:
    """A dataset name from an uploaded file's name, e.g. 'Bottle line 3.zip' -> 'Bottle-line-3' ('' if none)."""
    stem = re.sub(r"\.zip$", "", file_name.rsplit("/", 1)[-1], flags=re.IGNORECASE)
    return re.sub(r"[^A-Za-z0-9_.\-]+", "-", stem).lstrip("._-").rstrip("-")[:64]
