"""channels/: list, create, read, update, delete, and validate (send a test message)."""

from __future__ import annotations

from typing import Any

import django_filters
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import RATE_LIMITED_RESPONSE, ApiView, error_example, error_response
from core.errors import ErrorCode
from core.schema import StrictSerializer
from notifications.api.common import ActionErrorSerializer, CreatedRangeFilterSet
from notifications.channel_kinds import registered_kinds
from notifications.event_types import NOTIFICATION_TEST
from notifications.models import Channel
from notifications.selectors import channel_get, channel_list, channel_public_config
from notifications.services import channel_create, channel_delete, channel_update, channel_validate

TAGS = ["channels"]
_KINDS = sorted(registered_kinds())

# --- Schemas ---------------------------------------------------------------------------------------
# The config of a channel is validated by its kind's serializer (in the service). For OpenAPI, one
# request and one response variant per kind is generated from those same serializers, keyed by
# `channel_type`, so the schema says which config goes with which type.


class ChannelCreateBase(StrictSerializer):
    name = serializers.CharField(max_length=256, help_text="Unique; surrounding spaces are trimmed.")
    description = serializers.CharField(required=False, allow_blank=True, max_length=10_000, default="")
    channel_type = serializers.CharField(help_text=f"One of {', '.join(_KINDS)}; the service checks it.")
    config = serializers.DictField(help_text="The config of the channel type; see the variants.")
    enabled = serializers.BooleanField(required=False, default=True)


class ChannelOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField()
    channel_type = serializers.ChoiceField(choices=_KINDS)
    config = serializers.SerializerMethodField()
    enabled = serializers.BooleanField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, help_text="User name.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_config(self, channel: Channel) -> dict[str, Any]:
        return channel_public_config(channel)


def _variants(base: type[serializers.Serializer], suffix: str, config_of: Any) -> dict[str, Any]:
    return {
        key: type(
            f"{key.title()}{suffix}",
            (base,),
            {
                "channel_type": serializers.ChoiceField(choices=[key]),
                "config": config_of(kind),
                "__doc__": f"A channel of type {key}.",
            },
        )
        for key, kind in sorted(registered_kinds().items())
    }


CHANNEL_CREATE_SCHEMA = PolymorphicProxySerializer(
    component_name="ChannelCreate",
    serializers=_variants(ChannelCreateBase, "ChannelCreate", lambda kind: kind.config_serializer()),
    resource_type_field_name="channel_type",
)
CHANNEL_SCHEMA = PolymorphicProxySerializer(
    component_name="Channel",
    serializers=_variants(ChannelOutput, "Channel", lambda kind: kind.public_serializer()),
    resource_type_field_name="channel_type",
)


@extend_schema_field(
    PolymorphicProxySerializer(
        component_name="ChannelConfigUpdate",
        serializers=[kind.config_serializer for _, kind in sorted(registered_kinds().items())],
        resource_type_field_name=None,
    )
)
class ChannelConfigField(serializers.DictField):
    """A whole config of the channel's (new) type; omitted secrets keep their stored values."""


class ChannelUpdateInput(StrictSerializer):
    name = serializers.CharField(max_length=256)
    description = serializers.CharField(allow_blank=True, max_length=10_000)
    channel_type = serializers.CharField(help_text="Changing it needs a config of the new type.")
    config = ChannelConfigField()
    enabled = serializers.BooleanField()


class ChannelValidateInput(StrictSerializer):
    test_message = serializers.CharField(max_length=5000, default=NOTIFICATION_TEST.example["message"])


class ChannelValidateOutput(serializers.Serializer):
    success = serializers.BooleanField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    error = ActionErrorSerializer(allow_null=True)


class ChannelFilter(CreatedRangeFilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains", help_text="Name contains (case-insensitive).")

    class Meta:
        model = Channel
        fields = ["name", "channel_type", "enabled"]


WEBHOOK_EXAMPLE = {
    "name": "ops-webhook",
    "description": "Posts to the on-call bot.",
    "channel_type": "webhook",
    "config": {
        "url": "https://hooks.example.com/notify?team=ops",
        "method": "POST",
        "headers": {"Authorization": "Bearer s3cr3t"},
        "timeout": 10,
        "success_status_codes": [200, 202],
        "signing_secret": "a-long-random-signing-secret",
    },
    "enabled": True,
}
EMAIL_EXAMPLE = {
    "name": "ops-email",
    "channel_type": "email",
    "config": {
        "message": {
            "from_email": "alerts@example.com",
            "to_emails": ["ops@example.com"],
            "subject_template": "[{{ event_type }}] {{ session_name }}",
        },
        "smtp": {"host": "smtp.example.com", "port": 587, "use_tls": True, "timeout": 30},
        "auth": {"username": "alerts", "password": "smtp-password"},
    },
}
WEBHOOK_OUTPUT_EXAMPLE = {
    "id": "0b9e6f7e-2d0c-4a53-9f34-6a1f0c2b7d11",
    "name": "ops-webhook",
    "description": "Posts to the on-call bot.",
    "channel_type": "webhook",
    "config": {
        "url": "https://hooks.example.com/notify?team=ops",
        "method": "POST",
        "timeout": 10.0,
        "success_status_codes": [200, 202],
        "header_names": ["Authorization"],
        "has_signing_secret": True,
    },
    "enabled": True,
    "created_by": "alice",
    "created_at": "2026-01-13T09:30:00Z",
    "updated_at": "2026-01-13T09:30:00Z",
}
EMAIL_OUTPUT_EXAMPLE = {
    **WEBHOOK_OUTPUT_EXAMPLE,
    "id": "5d1f1a52-8f5e-4b3b-a1c9-0f7c4d9e2a33",
    "name": "ops-email",
    "description": "",
    "channel_type": "email",
    "config": {
        "message": {
            "from_email": "alerts@example.com",
            "to_emails": ["ops@example.com"],
            "subject_template": "[{{ event_type }}] {{ session_name }}",
        },
        "smtp": {"host": "smtp.example.com", "port": 587, "use_tls": True, "timeout": 30.0},
        "auth": {"username": "alerts", "has_password": True},
    },
}
_EXAMPLES = [
    OpenApiExample("Webhook channel", value=WEBHOOK_EXAMPLE, request_only=True),
    OpenApiExample("Email channel with its own SMTP server", value=EMAIL_EXAMPLE, request_only=True),
    OpenApiExample("Webhook channel (response)", value=WEBHOOK_OUTPUT_EXAMPLE, response_only=True),
    OpenApiExample("Email channel (response)", value=EMAIL_OUTPUT_EXAMPLE, response_only=True),
]
_DUPLICATE = error_response(
    "DUPLICATE_NAME: another channel has this name.",
    error_example(
        "Duplicate name",
        ErrorCode.DUPLICATE_NAME,
        "A channel named 'ops-webhook' already exists.",
        {"name": ["A channel with this name already exists."]},
    ),
)


# --- Views -----------------------------------------------------------------------------------------


class ChannelListApi(ApiView):
    queryset = Channel.objects.none()
    filterset_class = ChannelFilter
    ordering_fields = ["name", "created_at", "updated_at"]
    ordering = ["name"]

    @extend_schema(tags=TAGS, summary="List channels", responses=CHANNEL_SCHEMA, examples=_EXAMPLES[2:])
    def get(self, request: Request) -> Response:
        return self.list_response(channel_list(actor=request.user), ChannelOutput)

    @extend_schema(
        tags=TAGS,
        summary="Create a channel",
        description="Secret values (webhook header values, `signing_secret`, SMTP `password`) are write-only.",
        request=CHANNEL_CREATE_SCHEMA,
        responses={201: CHANNEL_SCHEMA, 409: _DUPLICATE},
        examples=_EXAMPLES,
    )
    def post(self, request: Request) -> Response:
        channel = channel_create(actor=request.user, **self.parse(ChannelCreateBase))
        return Response(ChannelOutput(channel).data, status=201)


class ChannelDetailApi(ApiView):
    queryset = Channel.objects.none()

    @extend_schema(tags=TAGS, summary="Read a channel", responses=CHANNEL_SCHEMA, examples=_EXAMPLES[2:])
    def get(self, request: Request, channel_id: str) -> Response:
        return Response(ChannelOutput(channel_get(actor=request.user, channel_id=channel_id)).data)

    @extend_schema(
        tags=TAGS,
        summary="Update a channel",
        description="Send any of the fields. A `config` replaces the whole config, except that a secret it "
        "omits keeps its stored value (send `signing_secret: null` to remove that one).",
        request=ChannelUpdateInput,
        responses={200: CHANNEL_SCHEMA, 409: _DUPLICATE},
        examples=[
            OpenApiExample("Disable", value={"enabled": False}, request_only=True),
            OpenApiExample(
                "Move the webhook, keeping its secrets",
                value={"config": {"url": "https://hooks.example.com/v2", "timeout": 5}},
                request_only=True,
            ),
            *_EXAMPLES[2:],
        ],
    )
    def patch(self, request: Request, channel_id: str) -> Response:
        data = self.parse(ChannelUpdateInput, partial=True)
        channel = channel_update(actor=request.user, channel_id=channel_id, **data)
        return Response(ChannelOutput(channel).data)

    @extend_schema(
        tags=TAGS,
        summary="Delete a channel",
        responses={
            204: OpenApiResponse(description="Deleted."),
            409: error_response(
                "CHANNEL_IN_USE: rules still send to this channel.",
                error_example(
                    "Channel in use",
                    ErrorCode.CHANNEL_IN_USE,
                    "Channel 'ops-webhook' is used by rules (session alerts); delete or move them first.",
                ),
            ),
        },
    )
    def delete(self, request: Request, channel_id: str) -> Response:
        channel_delete(actor=request.user, channel_id=channel_id)
        return Response(status=204)


class ChannelValidateApi(ApiView):
    queryset = Channel.objects.none()

    @extend_schema(
        tags=TAGS,
        summary="Send a test message",
        description="Sends `test_message` through the same code path as real deliveries (SSRF guard "
        "included) and reports the outcome. The remote server's response body is never returned.",
        request=ChannelValidateInput,
        responses={200: ChannelValidateOutput, 429: RATE_LIMITED_RESPONSE},
        examples=[
            OpenApiExample("Request", value={"test_message": "Hello from the notification service"}, request_only=True),
            OpenApiExample(
                "Delivered",
                value={"success": True, "delivered_at": "2026-01-13T09:30:01Z", "error": None},
                response_only=True,
            ),
            OpenApiExample(
                "Refused",
                value={
                    "success": False,
                    "delivered_at": None,
                    "error": {"code": "WEBHOOK_BAD_STATUS", "message": "The webhook answered HTTP 500."},
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request: Request, channel_id: str) -> Response:
        data = self.parse(ChannelValidateInput)
        result = channel_validate(actor=request.user, channel_id=channel_id, test_message=data["test_message"])
        return Response(ChannelValidateOutput(result).data)
