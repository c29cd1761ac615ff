"""Email channels: through the channel's own SMTP block, or the runtime SMTP provider when it has none.

A message has a text body (the rule's template, or a default listing the event) and an HTML
alternative from the layout in templates/notifications/email/. Its Message-ID carries the delivery
id, so the retries of one delivery are recognisably the same message.
"""

from __future__ import annotations

import uuid
from email.headerregistry import Address
from email.utils import formatdate
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import jinja2
from django.conf import settings
from markupsafe import Markup
from rest_framework import serializers

from core.errors import ErrorCode, ValidationError
from core.schema import HostnameField, PortField, SecretField, StrictSerializer, no_crlf
from notifications import rendering, ssrf
from notifications.channel_kinds.base import (
    ChannelKind,
    RenderedMessage,
    SendFailure,
    SendResult,
    redact,
    register,
)
from notifications.channel_kinds.email_mime import compose
from providers.smtp import SmtpEndpoint, SmtpError, pooled_send

if TYPE_CHECKING:
    from notifications.models import Channel
    from providers.sender_cache import SmtpSender

DEFAULT_SUBJECT_TEMPLATE = "Notification: {{ event_type }}"
DEFAULT_MESSAGE_TEMPLATE = (
    "Event {{ event_type }} at {{ timestamp }}\n"
    "{% for key, value in data|dictsort %}\n{{ key }}: {{ value }}{% endfor %}\n"
)
MESSAGE_ID_DOMAIN = "notification-service"
NO_SMTP_PROVIDER = "no_smtp_provider"


class EmailMessageSerializer(StrictSerializer):
    from_email = serializers.EmailField(required=False, allow_blank=True, default="")
    to_emails = serializers.ListField(child=serializers.EmailField(), min_length=1, max_length=100)
    subject_template = serializers.CharField(max_length=998, default=DEFAULT_SUBJECT_TEMPLATE, validators=[no_crlf])


class SmtpConnectionSerializer(StrictSerializer):
    host = HostnameField()
    port = PortField(default=587)
    use_tls = serializers.BooleanField(default=True, help_text="Implicit TLS on 465, STARTTLS otherwise.")
    timeout = serializers.FloatField(default=30.0, min_value=0.1, max_value=300.0)


class SmtpAuthSerializer(StrictSerializer):
    username = serializers.CharField(max_length=256, validators=[no_crlf])
    password = SecretField(help_text="Write-only; kept on update when omitted.")


class EmailConfigSerializer(StrictSerializer):
    message = EmailMessageSerializer()
    smtp = SmtpConnectionSerializer(required=False, allow_null=True)
    auth = SmtpAuthSerializer(required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("auth") and not attrs.get("smtp"):
            raise serializers.ValidationError({"auth": ["Credentials need an smtp block to go with."]})
        if not attrs.get("smtp") and not attrs["message"].get("from_email"):
            return attrs  # the provider's from_email is used
        if attrs.get("smtp") and not attrs["message"].get("from_email"):
            raise serializers.ValidationError({"message": {"from_email": ["Required with an own smtp block."]}})
        return attrs


class SmtpAuthPublicSerializer(serializers.Serializer):
    username = serializers.CharField()
    has_password = serializers.BooleanField()


class EmailPublicConfigSerializer(serializers.Serializer):
    message = EmailMessageSerializer()
    smtp = SmtpConnectionSerializer(allow_null=True)
    auth = SmtpAuthPublicSerializer(allow_null=True)


def message_id(delivery_id: str) -> str:
    return f"<{delivery_id or uuid.uuid4()}@{MESSAGE_ID_DOMAIN}>"


def _linebreaksbr(value: str) -> Markup:
    """Django's `linebreaksbr`: escaped, each line break a <br>."""
    return Markup("<br>").join(value.replace("\r\n", "\n").replace("\r", "\n").split("\n"))  # join escapes


@lru_cache(maxsize=1)
def _layouts() -> jinja2.Environment:
    """The email layouts (templates/notifications/email/, ours, not the rule writer's): compiled once
    per process by Jinja2, which renders them several times faster than Django's engine."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(settings.BASE_DIR / "templates" / "notifications" / "email"),
        autoescape=jinja2.select_autoescape(["html"]),
        auto_reload=False,
        keep_trailing_newline=True,
    )
    environment.filters["linebreaksbr"] = _linebreaksbr
    return environment


@lru_cache(maxsize=64)
def _provider_from(name: str, address: str) -> str:
    return str(Address(display_name=name, addr_spec=address))  # the email package's formatting is slow


class EmailKind(ChannelKind):
    key = "email"
    config_serializer = EmailConfigSerializer
    public_serializer = EmailPublicConfigSerializer
    span_name = "notification.send_rendered_email"
    send_stage = "smtp_send"

    def split_secrets(self, validated: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        config = {"message": validated["message"], "smtp": validated.get("smtp"), "auth": None}
        secrets: dict[str, Any] = {}
        auth = validated.get("auth")
        if auth:
            config["auth"] = {"username": auth["username"]}
            if "password" in auth:
                secrets["password"] = auth["password"]
        else:
            secrets["password"] = None  # no auth block: drop any stored password
        return config, secrets

    def check_secrets(self, config: dict[str, Any], secrets: dict[str, Any]) -> None:
        if config.get("auth") and not secrets.get("password"):
            raise ValidationError.for_field("config.auth.password", "A password is required with a username.")

    def public_config(self, config: dict[str, Any], secrets: dict[str, Any]) -> dict[str, Any]:
        auth = config.get("auth")
        return {
            "message": config["message"],
            "smtp": config.get("smtp"),
            "auth": {"username": auth["username"], "has_password": bool(secrets.get("password"))} if auth else None,
        }

    def skip_reason(self, *, channel: Channel, sender: SmtpSender | None) -> str:
        return NO_SMTP_PROVIDER if not channel.config.get("smtp") and sender is None else ""

    def secret_values(self, *, channel: Channel, sender: SmtpSender | None) -> list[str]:
        values = [channel.secrets.get("password") or ""]
        if sender is not None:
            values += [sender.config.password, sender.config.username]
        return values

    def span_attributes(self, *, channel: Channel, event_type: str, sender: SmtpSender | None) -> dict[str, Any]:
        source = "channel" if channel.config.get("smtp") else "provider" if sender is not None else "none"
        return {"email_type": event_type, "provider_configured": sender is not None, "smtp_source": source}

    def render(
        self, *, channel: Channel, message_template: str, subject_template: str, context: dict[str, Any]
    ) -> RenderedMessage:
        subject_source = (
            subject_template or channel.config["message"].get("subject_template") or DEFAULT_SUBJECT_TEMPLATE
        )
        subject = rendering.render_subject(subject_source, context)
        layout = {
            "body": rendering.render(message_template or DEFAULT_MESSAGE_TEMPLATE, context),
            "subject": subject,
            "event_type": context["event_type"],
            "admin_panel_url": context.get("admin_panel_url", ""),
        }
        return RenderedMessage(
            subject=subject,
            body=_layouts().get_template("layout.txt").render(layout),
            html=_layouts().get_template("layout.html").render(layout),
        )

    def _route(self, channel: Channel, sender: SmtpSender | None) -> tuple[SmtpEndpoint, str]:
        """Where to connect and whom to send as: the channel's own block, else the provider."""
        from_email = channel.config["message"].get("from_email") or ""
        smtp = channel.config.get("smtp")
        if smtp:
            auth = channel.config.get("auth") or {}
            endpoint = SmtpEndpoint(
                host=smtp["host"],
                port=smtp["port"],
                tls=smtp["use_tls"],
                timeout=smtp["timeout"],
                username=auth.get("username", ""),
                password=channel.secrets.get("password", "") if auth else "",
            )
            return endpoint, from_email
        assert sender is not None, "skip_reason() rules out a provider-less channel"
        return sender.endpoint, from_email or _provider_from(sender.config.from_name, sender.config.from_email)

    def send(
        self, *, channel: Channel, message: RenderedMessage, sender: SmtpSender | None, delivery_id: str
    ) -> SendResult:
        endpoint, from_email = self._route(channel, sender)
        secrets = self.secret_values(channel=channel, sender=sender)
        try:
            email = compose(
                from_email=from_email,
                to=channel.config["message"]["to_emails"],
                subject=message.subject,
                text=message.body,
                html=message.html,
                message_id=message_id(delivery_id),
                date=formatdate(usegmt=True),
            )
        except ValueError as exc:  # an address that cannot be written into a header: the same next time
            text = redact(f"The message could not be composed: {exc}", secrets=secrets)
            raise SendFailure(text, code=ErrorCode.SMTP_SEND_FAILED, transient=False) from None
        try:
            if channel.config.get("smtp"):  # the channel writer's choice of server, unlike the provider's relay
                ssrf.vet_host(endpoint.host, endpoint.port, smtp=True)
            pooled_send(endpoint, email)
        except ssrf.AddressRefused as exc:
            raise SendFailure(exc.message, code=exc.code, transient=False) from None
        except ssrf.ResolutionFailed as exc:
            raise SendFailure(exc.message, code=ErrorCode.SMTP_CONNECT_FAILED, transient=True) from None
        except SmtpError as exc:
            text = redact(exc.message, secrets=secrets)
            raise SendFailure(
                text, code=exc.code, transient=exc.transient, status_code=exc.smtp_code, excerpt=text
            ) from None
        return SendResult(status_code=250, excerpt="")


register(EmailKind())
