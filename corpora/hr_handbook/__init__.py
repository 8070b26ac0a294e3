"""The Tarnwell Systems employee handbook (fictional) and its questions: see build.py.

`handbook.md` holds the sections (`## <ID> <Title>` headings), `questions.jsonl` one question per
line with its split, reference answer and supporting section ids.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def data_dir() -> Path:
    """The folder holding handbook.md and questions.jsonl (inside the installed package)."""
    return Path(str(files(__name__)))
