"""Webhook channels: an HTTP request per delivery, optionally signed with HMAC-SHA256."""

from __future__ import annotations

import re
from typing import Any

from rest_framework import serializers

from core.errors import ValidationError
from core.schema import SecretField, StrictSerializer, no_crlf
from notifications.channel_kinds.base import ChannelKind, register

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
# Set by the service itself; letting a channel override them would break framing or signing.
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "content-type"}
    | {"x-notification-signature", "x-notification-timestamp", "x-notification-delivery-id"}
)
METHODS = ("POST", "PUT", "PATCH")


class WebhookConfigSerializer(StrictSerializer):
    url = serializers.URLField(max_length=2048, help_text="http(s) URL; its query string is kept.")
    method = serializers.ChoiceField(choices=METHODS, default="POST", help_text="Case-insensitive.")
    headers = serializers.DictField(
        child=serializers.CharField(max_length=4096, allow_blank=True, trim_whitespace=False, validators=[no_crlf]),
        required=False,
        write_only=True,
        help_text="Header values are secrets: write-only, kept on update when omitted.",
    )
    timeout = serializers.FloatField(default=10.0, min_value=0.1, max_value=120.0)
    success_status_codes = serializers.ListField(
        child=serializers.IntegerField(min_value=100, max_value=599),
        default=list,
        max_length=100,
        help_text="Statuses that count as delivered; empty means any 2xx.",
    )
    signing_secret = SecretField(min_length=16, allow_null=True, help_text="Write-only. Enables the signature headers.")

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("method"), str):
            data = {**data, "method": data["method"].upper()}
        return super().to_internal_value(data)

    def validate_url(self, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("The URL must use http or https.")
        return value

    def validate_headers(self, value: dict[str, str]) -> dict[str, str]:
        errors = {}
        for name in value:
            if not _HEADER_NAME.match(name):
                errors[name] = ["Not a valid header name."]
            elif name.lower() in RESERVED_HEADERS:
                errors[name] = ["This header is set by the service."]
        if errors:
            raise serializers.ValidationError(errors)
        return value


class WebhookPublicConfigSerializer(serializers.Serializer):
    url = serializers.CharField()
    method = serializers.CharField()
    timeout = serializers.FloatField()
    success_status_codes = serializers.ListField(child=serializers.IntegerField())
    header_names = serializers.ListField(child=serializers.CharField())
    has_signing_secret = serializers.BooleanField()


class WebhookKind(ChannelKind):
    key = "webhook"
    config_serializer = WebhookConfigSerializer
    public_serializer = WebhookPublicConfigSerializer

    def split_secrets(self, validated: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        config = dict(validated)
        secrets: dict[str, Any] = {}
        if "headers" in config:
            secrets["headers"] = config.pop("headers")
        if "signing_secret" in config:
            # An explicit null removes the secret; omitting it keeps the stored one.
            secrets["signing_secret"] = config.pop("signing_secret")
        return config, secrets

    def check_secrets(self, config: dict[str, Any], secrets: dict[str, Any]) -> None:
        if set(secrets) - {"headers", "signing_secret"}:
            raise ValidationError.for_field("config", "Unexpected secret.")

    def public_config(self, config: dict[str, Any], secrets: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": config["url"],
            "method": config.get("method", "POST"),
            "timeout": config.get("timeout", 10.0),
            "success_status_codes": config.get("success_status_codes", []),
            "header_names": sorted(secrets.get("headers", {})),
            "has_signing_secret": bool(secrets.get("signing_secret")),
        }


register(WebhookKind())
