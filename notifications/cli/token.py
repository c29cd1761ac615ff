"""`notification token create|list|revoke`: per-user API tokens for `Authorization: Bearer <token>`.

`create` prints the token once, alone on the last line, so a script can take it with `tail -n 1`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core.models import ApiToken
from core.tokens import api_token_create, api_token_list, api_token_revoke, user_by_username
from notifications.cli.common import ACTOR
from notifications.cli.output import emit_json, emit_table


def _as_dict(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.pk,
        "name": token.name,
        "user": token.user.get_username(),
        "prefix": token.prefix,
        "created_at": token.created_at.isoformat(),
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }


def _create(options: dict[str, Any]) -> None:
    user = user_by_username(options["user"])
    token, raw = api_token_create(actor=ACTOR, user=user, name=options["name"])
    sys.stdout.write(
        f"Created API token {token.pk} ({token.name!r}) for {user.get_username()}. "
        "Store it now: it is not shown again.\n"
    )
    sys.stdout.write(raw + "\n")


def _list(options: dict[str, Any]) -> None:
    user = user_by_username(options["user"]) if options["user"] else None
    tokens = [_as_dict(token) for token in api_token_list(actor=ACTOR, user=user)]
    if options["json"]:
        emit_json(tokens)
    else:
        emit_table(tokens, ["id", "name", "user", "prefix", "created_at", "last_used_at", "revoked_at"])


def _revoke(options: dict[str, Any]) -> None:
    token = api_token_revoke(actor=ACTOR, token_id=options["id"])
    if options["json"]:
        emit_json(_as_dict(token))
    else:
        sys.stdout.write(f"Revoked API token {token.pk} ({token.name!r}) of {token.user.get_username()}.\n")


def register(subparsers: Any) -> None:
    group = subparsers.add_parser("token", help="Per-user API tokens for the REST and GraphQL APIs.")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
        parser = verbs.add_parser(name, help=help_text)
        parser.set_defaults(handler=handler)
        return parser

    create = verb("create", _create, "Create a token; it is printed once, alone on the last line.")
    create.add_argument("--user", required=True, help="The user name the token acts as.")
    create.add_argument("--name", default="cli", help="A label to tell tokens apart (default: cli).")

    listing = verb("list", _list, "List tokens (never the tokens themselves, only their prefixes).")
    listing.add_argument("--user", help="Only this user's tokens.")
    listing.add_argument("--json", action="store_true", help="Print JSON for scripts.")

    revoke = verb("revoke", _revoke, "Revoke a token at once.")
    revoke.add_argument("id", help="The token id, from `token list`.")
    revoke.add_argument("--json", action="store_true", help="Print JSON for scripts.")
