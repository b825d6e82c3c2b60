"""Sections of docs/benchmarks.md that separate bench scripts own.

A script's section sits between ``<!-- BEGIN name -->`` and ``<!-- END name -->``;
``replace_section`` rewrites only its own, and ``run_bench.py`` keeps the
others when it rewrites the rest of the file.
"""

from __future__ import annotations

import re

_SECTION = re.compile(r"<!-- BEGIN (?P<name>[\w.-]+) -->\n.*?<!-- END (?P=name) -->\n", re.S)


def wrap(name: str, text: str) -> str:
    return f"<!-- BEGIN {name} -->\n{text.rstrip()}\n<!-- END {name} -->\n"


def replace_section(document: str, name: str, text: str) -> str:
    """``document`` with section ``name`` set to ``text`` (appended when absent)."""
    block = wrap(name, text)
    for match in _SECTION.finditer(document):
        if match.group("name") == name:
            return document[: match.start()] + block + document[match.end() :]
    return document.rstrip("\n") + "\n\n" + block


def keep_sections(old: str, new: str) -> str:
    """``new`` plus every section of ``old`` it does not have."""
    have = {m.group("name") for m in _SECTION.finditer(new)}
    for match in _SECTION.finditer(old):
        if match.group("name") not in have:
            new = new.rstrip("\n") + "\n\n" + match.group(0)
    return new
