"""`notification channel list|info|create|update|delete|validate`.

The config is JSON, as in `channel create --name N --channel-type email --config '{...}'`. Its secret
(an email channel's SMTP password, a webhook's signing secret) can instead come from
`--password-stdin` or `--password-env VAR`, which keeps it out of shell history. Output shows
`has_password` / `has_signing_secret` / `header_names`, never a secret.
"""

from __future__ import annotations

import sys
from typing import Any

from notifications.cli.common import (
    ACTOR,
    Options,
    add_enabled_switch,
    add_json_input,
    add_secret_input,
    add_verb,
    iso,
    json_input,
    secret_input,
    show,
)
from notifications.cli.output import emit_error
from notifications.event_types import NOTIFICATION_TEST
from notifications.models import Channel, ChannelType
from notifications.selectors import channel_get, channel_list, channel_public_config
from notifications.services import channel_create, channel_delete, channel_update, channel_validate

COLUMNS = ["id", "name", "channel_type", "enabled", "updated_at"]
CONFIG_HELP = (
    'Webhook: {"url": "https://...", "method": "POST", "headers": {...}, "timeout": 10, '
    '"success_status_codes": [200], "signing_secret": "..."}. Email: {"message": {"from_email": "...", '
    '"to_emails": ["..."], "subject_template": "..."}, "smtp": {"host": "...", "port": 587, "use_tls": true}, '
    '"auth": {"username": "..."}}. Secrets left out are kept on update.'
)


def as_dict(channel: Channel) -> dict[str, Any]:
    return {
        "id": str(channel.id),
        "name": channel.name,
        "description": channel.description,
        "channel_type": channel.channel_type,
        "enabled": channel.enabled,
        "config": channel_public_config(channel),
        "created_at": iso(channel.created_at),
        "updated_at": iso(channel.updated_at),
    }


def _with_secret(channel_type: str, config: Any, secret: str | None) -> Any:
    """Puts the secret read from stdin or the environment where the kind keeps its secret."""
    if secret is None or not isinstance(config, dict):
        return config
    if channel_type == ChannelType.EMAIL:
        return {**config, "auth": {**(config.get("auth") or {}), "password": secret}}
    return {**config, "signing_secret": secret}


def _list(options: Options) -> None:
    channels = channel_list(actor=ACTOR)
    if options["channel_type"]:
        channels = channels.filter(channel_type=options["channel_type"])
    show(options, [as_dict(channel) for channel in channels], COLUMNS)


def _info(options: Options) -> None:
    show(options, as_dict(channel_get(actor=ACTOR, channel_id=options["id"])))


def _create(options: Options) -> None:
    config = _with_secret(options["channel_type"], json_input(options, "config"), secret_input(options))
    channel = channel_create(
        actor=ACTOR,
        name=options["name"],
        channel_type=options["channel_type"],
        config=config,
        description=options["description"],
        enabled=not options["disabled"],
    )
    show(options, as_dict(channel))


def _update(options: Options) -> None:
    fields: dict[str, Any] = {
        key: options[key] for key in ("name", "description", "enabled") if options[key] is not None
    }
    config, secret = json_input(options, "config"), secret_input(options)
    if config is not None or secret is not None:
        channel = channel_get(actor=ACTOR, channel_id=options["id"])
        # A secret alone goes into the stored config; the kind keeps the other secrets.
        fields["config"] = _with_secret(channel.channel_type, channel.config if config is None else config, secret)
    show(options, as_dict(channel_update(actor=ACTOR, channel_id=options["id"], **fields)))


def _delete(options: Options) -> None:
    channel_delete(actor=ACTOR, channel_id=options["id"])
    show(options, {"id": options["id"], "deleted": True})


def _validate(options: Options) -> None:
    result = channel_validate(actor=ACTOR, channel_id=options["id"], test_message=options["test_message"])
    error = result["error"]
    show(
        options,
        {
            "success": result["success"],
            "delivered_at": iso(result["delivered_at"]),
            "error": error if options["json"] else (f"{error['code']}: {error['message']}" if error else None),
        },
    )
    if not result["success"]:
        if error and not options["json"]:
            emit_error(error["code"], error["message"])
        sys.exit(1)


def register(subparsers: Any) -> None:
    group = subparsers.add_parser("channel", help="Where messages go: webhooks and email lists.")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")

    listing = add_verb(verbs, "list", _list, "List channels.")
    listing.add_argument("--channel-type", choices=[kind.value for kind in ChannelType], help="Only this kind.")

    add_verb(verbs, "info", _info, "Show one channel (secrets only as has_* markers).").add_argument("id")

    create = add_verb(verbs, "create", _create, "Create a channel.")
    create.add_argument("--name", required=True)
    create.add_argument("--channel-type", required=True, choices=[kind.value for kind in ChannelType])
    add_json_input(create, "config", CONFIG_HELP, required=True)
    create.add_argument("--description", default="")
    create.add_argument("--disabled", action="store_true", help="Create it disabled.")
    add_secret_input(create, "the SMTP password (email) or the signing secret (webhook)")

    update = add_verb(
        verbs, "update", _update, "Change a channel; options left out keep their values.", description=CONFIG_HELP
    )
    update.add_argument("id")
    update.add_argument("--name")
    update.add_argument("--description")
    add_enabled_switch(update)
    add_json_input(update, "config", "The whole new config (secrets left out are kept).")
    add_secret_input(update, "a new SMTP password (email) or signing secret (webhook)")

    add_verb(verbs, "delete", _delete, "Delete a channel that no rule uses.").add_argument("id")

    validate = add_verb(verbs, "validate", _validate, "Send a test message through a channel now.")
    validate.add_argument("id")
    validate.add_argument(
        "--test-message", default=NOTIFICATION_TEST.example["message"], help="The text of the test message."
    )
