"""Output for the CLI: tables for people, JSON for scripts, one-line errors with their code."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO


def emit_json(data: Any, stream: TextIO | None = None) -> None:
    (stream or sys.stdout).write(json.dumps(data, indent=2, default=str, sort_keys=True) + "\n")


def emit_table(rows: Iterable[dict[str, Any]], columns: Sequence[str], stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    rows = [{column: _cell(row.get(column)) for column in columns} for row in rows]
    widths = {column: max([len(column), *(len(row[column]) for row in rows)]) for column in columns}
    out.write("  ".join(column.upper().ljust(widths[column]) for column in columns).rstrip() + "\n")
    for row in rows:
        out.write("  ".join(row[column].ljust(widths[column]) for column in columns).rstrip() + "\n")


def emit_record(record: dict[str, Any], stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    width = max((len(key) for key in record), default=0)
    for key, value in record.items():
        out.write(f"{key.ljust(width)}  {_cell(value)}\n")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, sort_keys=True)
    return str(value)
