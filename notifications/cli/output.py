"""Output for the CLI: tables for people, JSON for scripts, one-line errors with their code."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn, TextIO

from django.core.management.base import CommandError, CommandParser

from core.errors import ErrorCode


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


def emit_error(code: str, message: str) -> None:
    sys.stderr.write(f"error: {code}: {message}\n")


class CliParser(CommandParser):
    """Argument errors as one line with a code on stderr and exit status 2, not usage text."""

    def error(self, message: str) -> NoReturn:
        if not self.called_from_command_line:  # call_command(): raise, as Django does
            raise CommandError(f"Error: {message}")
        emit_error(ErrorCode.VALIDATION_ERROR, f"{message} (see: {self.prog} --help)")
        sys.exit(2)
