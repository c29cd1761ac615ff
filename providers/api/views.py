"""providers/: list, create, read, update the config, and test (connect, TLS, auth, optionally send)."""

from __future__ import annotations

import copy
from typing import Any

import django_filters
from drf_spectacular.utils import OpenApiExample, PolymorphicProxySerializer, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import RATE_LIMITED_RESPONSE, ApiView, DateTimeFilter, error_example, error_response
from core.errors import ErrorCode
from core.schema import StrictSerializer
from providers.kinds import ProviderKind, registered_provider_kinds
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

TAGS = ["providers"]
_KINDS = sorted(registered_provider_kinds())


# --- Schemas ---------------------------------------------------------------------------------------


def _public_serializer(kind: ProviderKind) -> type[serializers.Serializer]:
    """The output schema of a kind's config: its input fields without the secrets, plus has_<secret>."""
    fields: dict[str, Any] = {
        name: copy.deepcopy(field)
        for name, field in kind.config_serializer._declared_fields.items()
        if name not in kind.secret_fields
    }
    fields.update({f"has_{name}": serializers.BooleanField() for name in kind.secret_fields})
    return type(f"{kind.key.title()}ProviderPublicConfig", (serializers.Serializer,), fields)


class ProviderCreateBase(StrictSerializer):
    provider = serializers.CharField(help_text="The provider kind; the service checks it is a known one.")
    name = serializers.CharField(max_length=256)
    config = serializers.DictField()


class ProviderOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    provider = serializers.ChoiceField(choices=_KINDS)
    config = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_config(self, provider: NotificationProvider) -> dict[str, Any]:
        return notification_provider_public_config(provider)


def _variants(base: type[serializers.Serializer], suffix: str, config_of: Any) -> dict[str, Any]:
    return {
        key: type(
            f"{key.title()}{suffix}",
            (base,),
            {"provider": serializers.ChoiceField(choices=[key]), "config": config_of(kind)},
        )
        for key, kind in sorted(registered_provider_kinds().items())
    }


PROVIDER_CREATE_SCHEMA = PolymorphicProxySerializer(
    component_name="NotificationProviderCreate",
    serializers=_variants(ProviderCreateBase, "ProviderCreate", lambda kind: kind.config_serializer()),
    resource_type_field_name="provider",
)
PROVIDER_SCHEMA = PolymorphicProxySerializer(
    component_name="NotificationProvider",
    serializers=_variants(ProviderOutput, "Provider", lambda kind: _public_serializer(kind)()),
    resource_type_field_name="provider",
)


@extend_schema_field(
    PolymorphicProxySerializer(
        component_name="ProviderConfig",
        serializers=[kind.config_serializer for _, kind in sorted(registered_provider_kinds().items())],
        resource_type_field_name=None,
    )
)
class ProviderConfigField(serializers.DictField):
    """A whole config of the provider's kind; the service validates it with the kind's serializer."""


class ProviderConfigUpdateInput(StrictSerializer):
    # PATCH replaces the whole config, so `config` stays required. DRF and drf-spectacular make the
    # body of a PATCH partial (every field optional); this serializer is never partial.

    @property
    def partial(self) -> bool:
        return False

    @partial.setter
    def partial(self, value: bool) -> None:
        pass

    provider = serializers.CharField(
        required=False, help_text=f"The kind of `config` ({', '.join(_KINDS)}); another than the stored one is a 409."
    )
    config = ProviderConfigField()


class ProviderTestInput(StrictSerializer):
    send_to = serializers.EmailField(
        required=False, allow_blank=True, help_text="Also send one test message to this address."
    )


class ProviderTestError(serializers.Serializer):
    code = serializers.CharField(
        help_text="SMTP_CONNECT_FAILED, SMTP_TLS_FAILED, SMTP_AUTH_FAILED or SMTP_SEND_FAILED."
    )
    message = serializers.CharField()


class ProviderTestOutput(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField(help_text="What was checked, or what failed.")
    error = ProviderTestError(allow_null=True)


class ProviderFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains", help_text="Name contains (case-insensitive).")
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = NotificationProvider
        fields = ["name", "provider"]


SMTP_EXAMPLE = {
    "provider": "smtp",
    "name": "Company relay",
    "config": {
        "relay": "smtp.example.com",
        "port": 587,
        "insecure": False,
        "admin_panel_url": "https://admin.example.com",
        "from_email": "notifications@example.com",
        "from_name": "Notifications",
        "username": "relay-user",
        "password": "relay-password",
    },
}
SMTP_OUTPUT_EXAMPLE = {
    "id": "7c0f5d8e-3a1b-4c2d-9e8f-1a2b3c4d5e6f",
    "name": "Company relay",
    "provider": "smtp",
    "config": {
        "relay": "smtp.example.com",
        "port": 587,
        "insecure": False,
        "admin_panel_url": "https://admin.example.com",
        "from_email": "notifications@example.com",
        "from_name": "Notifications",
        "has_username": True,
        "has_password": True,
    },
    "created_at": "2026-01-13T09:30:00Z",
    "updated_at": "2026-01-13T09:30:00Z",
}
_OUTPUT_EXAMPLES = [OpenApiExample("SMTP provider", value=SMTP_OUTPUT_EXAMPLE, response_only=True)]


# --- Views -----------------------------------------------------------------------------------------


class ProviderListApi(ApiView):
    queryset = NotificationProvider.objects.none()
    filterset_class = ProviderFilter
    ordering_fields = ["name", "provider", "created_at", "updated_at"]
    ordering = ["provider"]

    @extend_schema(
        tags=TAGS, summary="List notification providers", responses=PROVIDER_SCHEMA, examples=_OUTPUT_EXAMPLES
    )
    def get(self, request: Request) -> Response:
        return self.list_response(notification_provider_list(actor=request.user), ProviderOutput)

    @extend_schema(
        tags=TAGS,
        summary="Create a notification provider",
        description="One provider per kind. `username` and `password` are write-only: responses say "
        "`has_username` / `has_password` instead.",
        request=PROVIDER_CREATE_SCHEMA,
        responses={
            201: PROVIDER_SCHEMA,
            409: error_response(
                "DUPLICATE_PROVIDER: a provider of this kind exists already; update it instead.",
                error_example(
                    "Duplicate provider",
                    ErrorCode.DUPLICATE_PROVIDER,
                    "A smtp notification provider already exists; update it instead.",
                ),
            ),
        },
        examples=[OpenApiExample("SMTP provider", value=SMTP_EXAMPLE, request_only=True), *_OUTPUT_EXAMPLES],
    )
    def post(self, request: Request) -> Response:
        provider = notification_provider_create(actor=request.user, **self.parse(ProviderCreateBase))
        return Response(ProviderOutput(provider).data, status=201)


class ProviderDetailApi(ApiView):
    queryset = NotificationProvider.objects.none()

    @extend_schema(
        tags=TAGS, summary="Read a notification provider", responses=PROVIDER_SCHEMA, examples=_OUTPUT_EXAMPLES
    )
    def get(self, request: Request, provider_id: str) -> Response:
        return Response(ProviderOutput(notification_provider_get(actor=request.user, provider_id=provider_id)).data)

    @extend_schema(
        tags=TAGS,
        summary="Replace a provider's config",
        description="`config` is the whole config; `username` or `password` left out keep their stored "
        "values, and an empty string clears one.",
        request=ProviderConfigUpdateInput,
        responses={
            200: PROVIDER_SCHEMA,
            409: error_response(
                "PROVIDER_TYPE_MISMATCH: `provider` names another kind than the stored one.",
                error_example(
                    "Type mismatch",
                    ErrorCode.PROVIDER_TYPE_MISMATCH,
                    "This provider is of kind 'smtp'; a 'sendgrid' config cannot be applied to it.",
                ),
            ),
        },
        examples=[
            OpenApiExample(
                "Rotate the password",
                value={"provider": "smtp", "config": {**SMTP_EXAMPLE["config"], "password": "new-password"}},
                request_only=True,
            ),
            *_OUTPUT_EXAMPLES,
        ],
    )
    def patch(self, request: Request, provider_id: str) -> Response:
        provider = notification_provider_config_update(
            actor=request.user, provider_id=provider_id, **self.parse(ProviderConfigUpdateInput)
        )
        return Response(ProviderOutput(provider).data)


class ProviderTestApi(ApiView):
    queryset = NotificationProvider.objects.none()

    @extend_schema(
        tags=TAGS,
        summary="Test a notification provider",
        description="Connects to the relay, secures the connection as configured, authenticates, and "
        "with `send_to` sends one test message. An SMTP failure is an unsuccessful result, not an error.",
        request=ProviderTestInput,
        responses={200: ProviderTestOutput, 429: RATE_LIMITED_RESPONSE},
        examples=[
            OpenApiExample("Connect and send", value={"send_to": "ops@example.com"}, request_only=True),
            OpenApiExample(
                "Success",
                value={
                    "success": True,
                    "message": "smtp.example.com:587: connected, secured with TLS, authenticated.",
                    "error": None,
                },
                response_only=True,
            ),
            OpenApiExample(
                "Authentication refused",
                value={
                    "success": False,
                    "message": "The relay refused the credentials (535).",
                    "error": {"code": "SMTP_AUTH_FAILED", "message": "The relay refused the credentials (535)."},
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request: Request, provider_id: str) -> Response:
        data = self.parse(ProviderTestInput)
        result = notification_provider_test(actor=request.user, provider_id=provider_id, send_to=data.get("send_to"))
        error = {"code": result.error_code, "message": result.message} if result.error_code else None
        return Response(ProviderTestOutput({"success": result.success, "message": result.message, "error": error}).data)
