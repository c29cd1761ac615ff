"""`notification provider list|info|create|update|test`: the runtime SMTP provider.

Credentials never go on the command line (shell history, `ps`): the user name comes from
NOTIFICATION_SMTP_USERNAME, the password from `--password-stdin`, `--password-env VAR` or
NOTIFICATION_SMTP_PASSWORD. Output shows `has_username` / `has_password`, never the values.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from core.errors import ValidationError
from notifications.cli.common import (
    ACTOR,
    Options,
    add_json_input,
    add_secret_input,
    add_verb,
    iso,
    json_input,
    secret_input,
    show,
)
from providers.models import NotificationProvider
from providers.selectors import (
    notification_provider_get,
    notification_provider_list,
    notification_provider_public_config,
)
from providers.services import (
    notification_provider_config_update,
    notification_provider_create,
    notification_provider_test,
)

USERNAME_ENV = "NOTIFICATION_SMTP_USERNAME"
PASSWORD_ENV = "NOTIFICATION_SMTP_PASSWORD"  # noqa: S105 (a variable name, not a password)


def _as_dict(provider: NotificationProvider) -> dict[str, Any]:
    return {
        "id": str(provider.id),
        "name": provider.name,
        "provider": provider.provider,
        "config": notification_provider_public_config(provider),
        "created_at": iso(provider.created_at),
        "updated_at": iso(provider.updated_at),
    }


def _config(options: Options) -> dict[str, Any]:
    """The --config JSON plus the credentials given through the environment or standard input."""
    config = json_input(options, "config")
    if not isinstance(config, dict):
        raise ValidationError.for_field("config", "Expected a JSON object.")
    for key in ("username", "password"):
        # An empty value clears a credential; a real one would end up in shell history.
        if config.get(key):
            raise ValidationError.for_field(
                f"config.{key}",
                f"Pass credentials with {USERNAME_ENV} and --password-stdin, --password-env or {PASSWORD_ENV}.",
            )
    if USERNAME_ENV in os.environ:
        config["username"] = os.environ[USERNAME_ENV]
    password = secret_input(options)
    if password is None and PASSWORD_ENV in os.environ:
        password = os.environ[PASSWORD_ENV]
    if password is not None:
        config["password"] = password
    return config


def _list(options: Options) -> None:
    providers = [_as_dict(provider) for provider in notification_provider_list(actor=ACTOR)]
    show(options, providers, ["id", "name", "provider", "updated_at"])


def _info(options: Options) -> None:
    show(options, _as_dict(notification_provider_get(actor=ACTOR, provider_id=options["id"])))


def _create(options: Options) -> None:
    provider = notification_provider_create(
        actor=ACTOR, provider=options["provider"], name=options["name"], config=_config(options)
    )
    show(options, _as_dict(provider))


def _update(options: Options) -> None:
    provider = notification_provider_config_update(
        actor=ACTOR, provider_id=options["id"], provider=options["provider"], config=_config(options)
    )
    show(options, _as_dict(provider))


def _test(options: Options) -> None:
    result = notification_provider_test(actor=ACTOR, provider_id=options["id"], send_to=options["send_to"])
    if options["json"]:
        show(options, {"success": result.success, "error_code": result.error_code, "message": result.message})
    elif result.success:
        sys.stdout.write(f"ok: {result.message}\n")
    else:
        sys.stdout.write(f"failed: {result.error_code}: {result.message}\n")
    if not result.success:
        sys.exit(1)


def register(subparsers: Any) -> None:
    group = subparsers.add_parser("provider", help="The runtime SMTP provider (one per kind).")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")
    config_help = 'e.g. \'{"relay": "smtp.example.com", "port": 587, "from_email": "no-reply@example.com"}\''

    add_verb(verbs, "list", _list, "List providers.")
    info = add_verb(verbs, "info", _info, "Show one provider; credentials only as has_username / has_password.")
    info.add_argument("id")

    create = add_verb(verbs, "create", _create, "Create the provider of a kind; a second one is DUPLICATE_PROVIDER.")
    create.add_argument("--name", required=True)
    create.add_argument("--provider", default="smtp", help="Provider kind (default: smtp).")
    add_json_input(create, "config", config_help, required=True)
    add_secret_input(create, "the password")

    update = add_verb(verbs, "update", _update, "Replace a provider's config; omitted credentials are kept.")
    update.add_argument("id")
    update.add_argument("--provider", help="Kind of the config; another kind than the stored one is refused.")
    add_json_input(update, "config", config_help, required=True)
    add_secret_input(update, "the password")

    test = add_verb(verbs, "test", _test, "Connect, secure and authenticate; with --send-to, send a test message.")
    test.add_argument("id")
    test.add_argument("--send-to", metavar="ADDRESS", help="Send one test message to this address.")
