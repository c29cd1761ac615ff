"""Channels, rules and providers built through the real services, as an operator would."""

from __future__ import annotations

from typing import Any

from core.actors import SystemActor
from notifications.models import Channel, Rule
from notifications.services import channel_create, rule_create
from providers.models import NotificationProvider
from providers.services import notification_provider_create

ACTOR = SystemActor("tests")
SESSION = {"session_id": "s-1", "session_type": "batch", "cluster_mode": "single-node", "status": "RUNNING"}
WEBHOOK_TOKEN = "Bearer hook-token-5ecret"
SIGNING_SECRET = "signing-secret-0123456789"
SMTP_PASSWORD = "smtp-pass-5ecret"


def webhook_channel(url: str, *, name: str = "hook", **config: Any) -> Channel:
    return channel_create(actor=ACTOR, name=name, channel_type="webhook", config={"url": url, **config})


def email_channel(
    *,
    name: str = "mail",
    to: tuple[str, ...] = ("ops@example.com",),
    smtp: dict[str, Any] | None = None,
    auth: dict[str, str] | None = None,
    **message: Any,
) -> Channel:
    config: dict[str, Any] = {"message": {"to_emails": list(to), **message}}
    if smtp is not None:
        config["smtp"] = smtp
        config["message"].setdefault("from_email", "alerts@example.com")
    if auth is not None:
        config["auth"] = auth
    return channel_create(actor=ACTOR, name=name, channel_type="email", config=config)


def rule(channel: Channel, *, event_type: str = "session.started", name: str | None = None, **fields: Any) -> Rule:
    fields.setdefault("message_template", "Session {{ session_id }} is {{ status }}")
    name = name or f"rule-{channel.name}"
    return rule_create(actor=ACTOR, name=name, event_type=event_type, channel=channel, **fields)


def smtp_provider(host: str, port: int, **config: Any) -> NotificationProvider:
    return notification_provider_create(
        actor=ACTOR,
        provider="smtp",
        name="Primary SMTP",
        config={
            "relay": host,
            "port": port,
            "insecure": True,
            "from_email": "no-reply@example.com",
            "from_name": "Notification Service",
            "admin_panel_url": "https://admin.example.com",
            "username": "",
            "password": "",
            **config,
        },
    )
