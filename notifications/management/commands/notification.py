"""`python manage.py notification <group> <verb>`: a thin shell over the services."""

from __future__ import annotations

import importlib
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from core.errors import DomainError
from notifications.cli import GROUPS


class Command(BaseCommand):
    help = "Manage notification channels, rules, providers, events, deliveries and API tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        subparsers = parser.add_subparsers(dest="group", required=True, metavar="GROUP")
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
            sys.stderr.write(f"error: {exc.code}: {exc.message}{field}\n")
            sys.exit(1)
