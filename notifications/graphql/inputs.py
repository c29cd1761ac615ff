"""Input types, and their translation into the keyword arguments of the services.

Fields left out of an input stay out of the arguments, so an update changes only what it names
and a config that omits a secret keeps the stored one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import graphene

from core.errors import ValidationError
from core.graphql import OneOfInputObjectType, Secret, one_of, parse_id, plain
from notifications.graphql.types import WebhookMethod


class WebhookHeaderInput(graphene.InputObjectType):
    name = graphene.String(required=True)
    value = Secret(required=True)


class WebhookConfigInput(graphene.InputObjectType):
    url = graphene.String(required=True, description="http(s) URL; its query string is kept.")
    method = WebhookMethod(description="POST when omitted.")
    headers = graphene.List(
        graphene.NonNull(WebhookHeaderInput),
        description="Write-only. Replaces the stored headers; omit to keep them, [] to remove them.",
    )
    timeout = graphene.Float(description="Seconds; 10 when omitted.")
    success_status_codes = graphene.List(graphene.NonNull(graphene.Int), description="Empty: any 2xx.")
    signing_secret = Secret(description="Write-only; enables the signature headers. Omit to keep, null to remove.")


class EmailMessageConfigInput(graphene.InputObjectType):
    from_email = graphene.String(description="Required with an own smtp block; else the provider's is used.")
    to_emails = graphene.List(graphene.NonNull(graphene.String), required=True)
    subject_template = graphene.String()


class SMTPConnectionConfigInput(graphene.InputObjectType):
    host = graphene.String(required=True)
    port = graphene.Int(description="587 when omitted.")
    use_tls = graphene.Boolean(description="true when omitted: implicit TLS on 465, STARTTLS otherwise.")
    timeout = graphene.Float(description="Seconds; 30 when omitted.")


class SMTPAuthConfigInput(graphene.InputObjectType):
    username = graphene.String(required=True)
    password = Secret(description="Write-only; omit to keep the stored one.")


class EmailConfigInput(graphene.InputObjectType):
    message = graphene.InputField(EmailMessageConfigInput, required=True)
    smtp = graphene.InputField(SMTPConnectionConfigInput, description="Omit to send through the runtime SMTP provider.")
    auth = graphene.InputField(SMTPAuthConfigInput)


class NotificationChannelConfigInput(OneOfInputObjectType):
    """Exactly one of `webhook` and `email`; it also sets the channel's type."""

    webhook = graphene.InputField(WebhookConfigInput)
    email = graphene.InputField(EmailConfigInput)


class CreateNotificationChannelInput(graphene.InputObjectType):
    name = graphene.String(required=True)
    description = graphene.String()
    enabled = graphene.Boolean(description="true when omitted.")
    config = graphene.InputField(NotificationChannelConfigInput, required=True)


class UpdateNotificationChannelInput(graphene.InputObjectType):
    id = graphene.ID(required=True, description="A global id or the channel's UUID.")
    name = graphene.String()
    description = graphene.String()
    enabled = graphene.Boolean()
    config = graphene.InputField(
        NotificationChannelConfigInput, description="Replaces the config; omitted secrets stay."
    )


class CreateNotificationRuleInput(graphene.InputObjectType):
    name = graphene.String(required=True)
    description = graphene.String()
    event_type = graphene.String(required=True)
    channel_id = graphene.ID(required=True, description="A global id or the channel's UUID.")
    message_template = graphene.String(description="Jinja. An empty webhook template sends the default JSON envelope.")
    subject_template = graphene.String(description="Jinja, for email channels.")
    condition = graphene.String(description="A Jinja expression over the event; the rule fires when it is true.")
    enabled = graphene.Boolean(description="true when omitted.")


class UpdateNotificationRuleInput(graphene.InputObjectType):
    id = graphene.ID(required=True, description="A global id or the rule's UUID.")
    name = graphene.String()
    description = graphene.String()
    event_type = graphene.String()
    channel_id = graphene.ID()
    message_template = graphene.String()
    subject_template = graphene.String()
    condition = graphene.String()
    enabled = graphene.Boolean()


def _header_map(headers: list[dict[str, str]]) -> dict[str, str]:
    names = [header["name"] for header in headers]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValidationError.for_field("config.headers", f"Duplicate header names: {', '.join(duplicates)}.")
    return {header["name"]: header["value"] for header in headers}


def channel_arguments(value: Mapping[str, Any]) -> dict[str, Any]:
    """channel_create/channel_update keyword arguments from a create or update input."""
    arguments = plain({key: item for key, item in value.items() if key not in ("id", "config")})
    if "config" in value:
        if value["config"] is None:
            raise ValidationError.for_field("config", "Omit the config to keep it; it cannot be null.")
        channel_type, config = one_of(value["config"])
        if config.get("headers") is not None:
            config["headers"] = _header_map(config["headers"])
        arguments.update(channel_type=channel_type, config=config)
    return arguments


def rule_arguments(value: Mapping[str, Any]) -> dict[str, Any]:
    """rule_create/rule_update keyword arguments from a create or update input."""
    arguments = plain({key: item for key, item in value.items() if key not in ("id", "channel_id")})
    if "channel_id" in value:
        arguments["channel"] = parse_id(value["channel_id"], "NotificationChannel") if value["channel_id"] else None
    return arguments
