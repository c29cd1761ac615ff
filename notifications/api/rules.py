"""rules/: list, create, read, update, delete, and validate (a dry run that sends only when asked)."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import RATE_LIMITED_RESPONSE, ApiView
from core.schema import StrictSerializer
from notifications.api.common import ActionErrorSerializer, CreatedRangeFilterSet
from notifications.models import Rule
from notifications.selectors import rule_get, rule_list
from notifications.services import rule_create, rule_delete, rule_update, rule_validate

TAGS = ["rules"]

_TEMPLATE_HELP = (
    "A sandboxed Jinja2 template (at most 64 KB), checked when the rule is saved. It sees `event_type`, "
    "`timestamp`, `event_id`, `data`, every payload field, `rule`, `channel` and `admin_panel_url`."
)


class RuleInput(StrictSerializer):
    name = serializers.CharField(max_length=256)
    description = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
    event_type = serializers.CharField(max_length=128, help_text="A registered event type; see event-types/.")
    channel = serializers.UUIDField(help_text="The id of the channel to send to.")
    message_template = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, help_text=_TEMPLATE_HELP
    )
    subject_template = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, help_text="For email channels; one line."
    )
    condition = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="A sandboxed Jinja2 expression; the rule fires only when it is true. Empty: always.",
    )
    enabled = serializers.BooleanField(required=False)


class RuleOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField()
    event_type = serializers.CharField()
    channel = serializers.UUIDField(source="channel_id")
    message_template = serializers.CharField()
    subject_template = serializers.CharField()
    condition = serializers.CharField()
    enabled = serializers.BooleanField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, help_text="User name.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class RuleValidateInput(StrictSerializer):
    payload = serializers.DictField(
        required=False, allow_null=True, help_text="The event payload to try; the event type's example when omitted."
    )
    send = serializers.BooleanField(default=False, help_text="Also send the rendered message through the channel.")


class RenderedSerializer(serializers.Serializer):
    subject = serializers.CharField(allow_blank=True, allow_null=True, help_text="Null for webhook channels.")
    body = serializers.CharField(allow_blank=True)


class RuleValidateOutput(serializers.Serializer):
    matched = serializers.BooleanField(help_text="Whether the condition is true for this payload.")
    rendered = RenderedSerializer(allow_null=True)
    sent = serializers.BooleanField()
    error = ActionErrorSerializer(allow_null=True)


class RuleFilter(CreatedRangeFilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains", help_text="Name contains (case-insensitive).")
    channel = django_filters.UUIDFilter(field_name="channel_id")

    class Meta:
        model = Rule
        fields = ["name", "event_type", "channel", "enabled"]


RULE_EXAMPLE = {
    "name": "Session started",
    "description": "Tell ops when a batch session starts.",
    "event_type": "session.started",
    "channel": "0b9e6f7e-2d0c-4a53-9f34-6a1f0c2b7d11",
    "message_template": "Session {{ session_name or session_id }} is {{ status }} ({{ cluster_mode }}).",
    "subject_template": "[{{ event_type }}] {{ session_id }}",
    "condition": "session_type == 'batch'",
    "enabled": True,
}
RULE_OUTPUT_EXAMPLE = {
    "id": "4a8d2c1e-9b7f-4e3a-8c6d-5f4e3d2c1b0a",
    **RULE_EXAMPLE,
    "created_by": "alice",
    "created_at": "2026-01-13T09:30:00Z",
    "updated_at": "2026-01-13T09:30:00Z",
}
_OUTPUT_EXAMPLES = [OpenApiExample("Rule", value=RULE_OUTPUT_EXAMPLE, response_only=True)]


class RuleListApi(ApiView):
    queryset = Rule.objects.none()
    filterset_class = RuleFilter
    ordering_fields = ["name", "created_at", "updated_at"]
    ordering = ["name"]

    @extend_schema(tags=TAGS, summary="List rules", responses=RuleOutput, examples=_OUTPUT_EXAMPLES)
    def get(self, request: Request) -> Response:
        return self.list_response(rule_list(actor=request.user), RuleOutput)

    @extend_schema(
        tags=TAGS,
        summary="Create a rule",
        description="Templates and the condition are compiled and rendered against the event type's example "
        "payload; a broken one is a 400 naming its field.",
        request=RuleInput,
        responses={201: RuleOutput},
        examples=[OpenApiExample("Rule", value=RULE_EXAMPLE, request_only=True), *_OUTPUT_EXAMPLES],
    )
    def post(self, request: Request) -> Response:
        rule = rule_create(actor=request.user, **self.parse(RuleInput))
        return Response(RuleOutput(rule).data, status=201)


class RuleDetailApi(ApiView):
    queryset = Rule.objects.none()

    @extend_schema(tags=TAGS, summary="Read a rule", responses=RuleOutput, examples=_OUTPUT_EXAMPLES)
    def get(self, request: Request, rule_id: str) -> Response:
        return Response(RuleOutput(rule_get(actor=request.user, rule_id=rule_id)).data)

    @extend_schema(
        tags=TAGS,
        summary="Update a rule",
        request=RuleInput,
        responses={200: RuleOutput},
        examples=[OpenApiExample("Disable", value={"enabled": False}, request_only=True), *_OUTPUT_EXAMPLES],
    )
    def patch(self, request: Request, rule_id: str) -> Response:
        rule = rule_update(actor=request.user, rule_id=rule_id, **self.parse(RuleInput, partial=True))
        return Response(RuleOutput(rule).data)

    @extend_schema(tags=TAGS, summary="Delete a rule", responses={204: OpenApiResponse(description="Deleted.")})
    def delete(self, request: Request, rule_id: str) -> Response:
        rule_delete(actor=request.user, rule_id=rule_id)
        return Response(status=204)


class RuleValidateApi(ApiView):
    queryset = Rule.objects.none()

    @extend_schema(
        tags=TAGS,
        summary="Dry-run a rule",
        description="Evaluates the condition and renders the templates for `payload`; with `send: true` also "
        "sends the result through the rule's channel.",
        request=RuleValidateInput,
        responses={200: RuleValidateOutput, 429: RATE_LIMITED_RESPONSE},
        examples=[
            OpenApiExample(
                "Dry run",
                value={
                    "payload": {
                        "session_id": "s-1",
                        "session_type": "batch",
                        "cluster_mode": "single-node",
                        "status": "RUNNING",
                    },
                    "send": False,
                },
                request_only=True,
            ),
            OpenApiExample(
                "Rendered",
                value={
                    "matched": True,
                    "rendered": {"subject": "[session.started] s-1", "body": "Session s-1 is RUNNING (single-node)."},
                    "sent": False,
                    "error": None,
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request: Request, rule_id: str) -> Response:
        data = self.parse(RuleValidateInput)
        result = rule_validate(actor=request.user, rule_id=rule_id, payload=data.get("payload"), send=data["send"])
        return Response(RuleValidateOutput(result).data)
