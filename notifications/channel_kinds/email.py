"""Email channels: through the channel's own SMTP block, or the runtime SMTP provider when it has none."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.errors import ValidationError
from core.schema import HostnameField, PortField, SecretField, StrictSerializer, no_crlf
from notifications.channel_kinds.base import ChannelKind, register

DEFAULT_SUBJECT_TEMPLATE = "Notification: {{ event_type }}"


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


class EmailKind(ChannelKind):
    key = "email"
    config_serializer = EmailConfigSerializer
    public_serializer = EmailPublicConfigSerializer

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


register(EmailKind())
