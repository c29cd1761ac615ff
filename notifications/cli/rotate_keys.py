"""`notification rotate-keys`: re-encrypt every stored secret under NOTIFICATION_ENCRYPTION_KEY."""

from __future__ import annotations

import sys
from typing import Any

from notifications.cli.output import emit_json
from providers.rotation import encryption_keys_rotate


def _rotate(options: dict[str, Any]) -> None:
    result = encryption_keys_rotate()
    if options["json"]:
        emit_json(
            {
                "reencrypted": result.reencrypted_count,
                "fields": {label: len(pks) for label, pks in result.reencrypted.items()},
                "unreadable": result.unreadable,
            }
        )
    else:
        sys.stdout.write(f"Re-encrypted {result.reencrypted_count} stored secret value(s) under the active key.\n")
        for label, pks in sorted(result.unreadable.items()):
            sys.stderr.write(f"unreadable: {label}: {', '.join(pks)} (no configured key decrypts them)\n")
    if result.unreadable:
        sys.exit(1)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rotate-keys",
        help="Re-encrypt stored secrets under the active key (also done at every start).",
        description=(
            "Re-encrypts every stored secret written under a key of NOTIFICATION_ENCRYPTION_DEPRECATED_KEYS "
            "with NOTIFICATION_ENCRYPTION_KEY, and records one audit entry when anything changed."
        ),
    )
    parser.add_argument("--json", action="store_true", help="Print JSON for scripts.")
    parser.set_defaults(handler=_rotate)
