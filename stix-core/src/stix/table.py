"""Plain text tables as every STIX listing prints them: left-aligned, two spaces apart."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def table_lines(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> list[str]:
    """The header line and one line per row; cells are ``str()``-ed, trailing blanks cut."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return lines


def format_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """:func:`table_lines` joined into one text."""
    return "\n".join(table_lines(rows, headers))


__all__ = ["format_table", "table_lines"]
