"""`python manage.py notification <group> <verb>`: a thin shell over the services."""

from __future__ import annotations

import importlib
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from core.errors import DomainError
from notifications.cli import GROUPS
from notifications.cli.output import CliParser, emit_error


class Command(BaseCommand):
    help = "Manage notification channels, rules, providers, events, deliveries and API tokens."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.__class__ = CliParser  # Django builds a CommandParser; this one reports errors in one line
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        subparsers = parser.add_subparsers(dest="group", required=True, metavar="GROUP", parser_class=CliParser)
        for name in GROUPS:
            importlib.import_module(f"notifications.cli.{name}").register(subparsers)

    def handle(self, *args: Any, **options: Any) -> None:
        handler = options.get("handler")
        if handler is None:
            self.print_help("manage.py", "notification")
            sys.exit(2)
        try:
            handler(options)
        except DomainError as exc:
            field = f" [{', '.join(exc.fields)}]" if exc.fields else ""
            emit_error(exc.code, f"{exc.message}{field}")
            sys.exit(1)
