"""What the channel, rule, event and delivery groups share: the actor, verbs, JSON input, secrets."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from core.actors import SystemActor
from core.errors import DomainError, ErrorCode, ValidationError
from notifications.cli.output import emit_json, emit_record, emit_table

ACTOR = SystemActor("cli")
Options = dict[str, Any]
Handler = Callable[[Options], None]


def add_verb(verbs: Any, name: str, handler: Handler, help_text: str, *, description: str = "") -> Any:
    parser = verbs.add_parser(name, help=help_text, description=description or help_text)
    parser.add_argument("--json", action="store_true", help="Print JSON for scripts instead of a table.")
    parser.set_defaults(handler=handler)
    return parser


def add_json_input(parser: Any, name: str, help_text: str, *, required: bool = False) -> None:
    """`--NAME JSON` or `--NAME-file PATH` (`-` reads standard input)."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument(f"--{name}", metavar="JSON", help=help_text)
    group.add_argument(f"--{name}-file", metavar="PATH", help=f"Read --{name} from a file ('-': standard input).")


def add_text_input(parser: Any, name: str, help_text: str) -> None:
    """`--NAME TEXT` or `--NAME-file PATH`, for templates."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(f"--{name}", metavar="TEXT", help=help_text)
    group.add_argument(f"--{name}-file", metavar="PATH", help=f"Read --{name} from a file ('-': standard input).")


def add_secret_input(parser: Any, what: str) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--password-stdin", action="store_true", help=f"Read {what} from standard input (keeps it out of history)."
    )
    group.add_argument("--password-env", metavar="VAR", help=f"Read {what} from the environment variable VAR.")


def add_enabled_switch(parser: Any) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--enable", dest="enabled", action="store_const", const=True, help="Enable it.")
    group.add_argument("--disable", dest="enabled", action="store_const", const=False, help="Disable it.")


def _read_file(path: str, option: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError.for_field(option, f"Cannot read {path}: {exc.strerror or exc}.") from None


def text_input(options: Options, name: str) -> str | None:
    """The value of `--NAME` or the content of `--NAME-file`; None when neither was given."""
    key = name.replace("-", "_")
    if options.get(f"{key}_file") is not None:
        return _read_file(options[f"{key}_file"], f"{name}_file")
    return options.get(key)


def json_input(options: Options, name: str) -> Any:
    """The parsed `--NAME` / `--NAME-file` JSON; None when neither was given. Bad JSON is a PARSE_ERROR."""
    text = text_input(options, name)
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DomainError(
            f"--{name} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).",
            code=ErrorCode.PARSE_ERROR,
        ) from None


def secret_input(options: Options) -> str | None:
    """The secret from standard input or the named environment variable; None when not asked for."""
    if options.get("password_stdin"):
        value = sys.stdin.read().rstrip("\r\n")
        source = "standard input"
    elif options.get("password_env"):
        name = options["password_env"]
        if name not in os.environ:
            raise ValidationError.for_field("password_env", f"The environment variable {name} is not set.")
        value, source = os.environ[name], name
    else:
        return None
    if not value:
        raise ValidationError.for_field("password", f"The secret from {source} is empty.")
    return value


def show(options: Options, data: dict[str, Any] | list[dict[str, Any]], columns: Sequence[str] = ()) -> None:
    """JSON with --json; else a table for a list, or one `key  value` line per field for a record."""
    if options.get("json"):
        emit_json(data)
    elif isinstance(data, list):
        emit_table(data, columns)
    else:
        emit_record(data)


def iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
