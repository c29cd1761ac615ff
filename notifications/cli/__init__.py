"""Verbs of `python manage.py notification`. Each module here adds one group with `register()`.

To add a group: write `notifications/cli/<group>.py` with `register(subparsers)` that adds a parser
whose verbs set `handler=<function(options) -> None>`, then list the module in GROUPS.
"""

from __future__ import annotations

GROUPS: list[str] = ["provider", "rotate_keys", "token", "channel", "rule", "event", "delivery"]
