"""deliveries/: the delivery log (filters, cursor pages), one delivery with its attempts, and retry."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import ApiView, CursorPagination, error_example, error_response
from core.errors import ErrorCode
from notifications.api.common import CreatedRangeFilterSet
from notifications.models import Delivery, DeliveryStatus
from notifications.selectors import delivery_get, delivery_list
from notifications.services import delivery_retry

TAGS = ["deliveries"]


class DeliveryOutput(serializers.Serializer):
    id = serializers.UUIDField()
    event = serializers.UUIDField(source="event_id")
    event_type = serializers.CharField(source="event.event_type")
    rule = serializers.UUIDField(source="rule_id", allow_null=True, help_text="Null once the rule is deleted.")
    channel = serializers.UUIDField(source="channel_id", allow_null=True, help_text="Null once the channel is deleted.")
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)
    attempts = serializers.IntegerField(help_text="How many attempts were made.")
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    failure_stage = serializers.CharField(help_text="resolve_provider, render_template, smtp_send or webhook_send.")
    skip_reason = serializers.CharField(help_text="Why a skipped delivery was skipped, e.g. no_smtp_provider.")
    last_error = serializers.CharField(help_text="Redacted.")
    sent_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class DeliveryAttemptOutput(serializers.Serializer):
    number = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField()
    outcome = serializers.CharField(help_text="sent, skipped, transient_error or permanent_error.")
    transient = serializers.BooleanField()
    failure_stage = serializers.CharField()
    status_code = serializers.IntegerField(allow_null=True, help_text="SMTP reply code or HTTP status.")
    error_code = serializers.CharField()
    excerpt = serializers.CharField(help_text="Short and redacted.")


class DeliveryDetailOutput(DeliveryOutput):
    attempt_log = DeliveryAttemptOutput(source="attempt_log.all", many=True, help_text="Oldest first.")


class DeliveryFilter(CreatedRangeFilterSet):
    channel = django_filters.UUIDFilter(field_name="channel_id")
    rule = django_filters.UUIDFilter(field_name="rule_id")
    event = django_filters.UUIDFilter(field_name="event_id")
    event_type = django_filters.CharFilter(field_name="event__event_type")

    class Meta:
        model = Delivery
        fields = ["status", "channel", "rule", "event", "event_type", "failure_stage", "skip_reason"]


DELIVERY_EXAMPLE = {
    "id": "9a7b6c5d-4e3f-4a1b-8c9d-0e1f2a3b4c5d",
    "event": "e3b0c442-98fc-4c14-9afb-f4c8996fb924",
    "event_type": "session.started",
    "rule": "4a8d2c1e-9b7f-4e3a-8c6d-5f4e3d2c1b0a",
    "channel": "0b9e6f7e-2d0c-4a53-9f34-6a1f0c2b7d11",
    "status": "failed",
    "attempts": 1,
    "next_attempt_at": None,
    "failure_stage": "webhook_send",
    "skip_reason": "",
    "last_error": "The webhook answered HTTP 404.",
    "sent_at": None,
    "created_at": "2026-01-13T09:30:00Z",
    "updated_at": "2026-01-13T09:30:02Z",
}
DELIVERY_DETAIL_EXAMPLE = {
    **DELIVERY_EXAMPLE,
    "attempt_log": [
        {
            "number": 1,
            "started_at": "2026-01-13T09:30:01Z",
            "finished_at": "2026-01-13T09:30:02Z",
            "outcome": "permanent_error",
            "transient": False,
            "failure_stage": "webhook_send",
            "status_code": 404,
            "error_code": "WEBHOOK_BAD_STATUS",
            "excerpt": "HTTP 404",
        }
    ],
}


class DeliveryListApi(ApiView):
    queryset = Delivery.objects.none()
    filterset_class = DeliveryFilter
    ordering_fields = ["created_at", "updated_at"]
    pagination_class = CursorPagination

    @extend_schema(
        tags=TAGS,
        summary="List deliveries",
        description="Newest first by default.",
        responses=DeliveryOutput,
        examples=[OpenApiExample("Delivery", value=DELIVERY_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        return self.list_response(delivery_list(actor=request.user), DeliveryOutput)


class DeliveryDetailApi(ApiView):
    queryset = Delivery.objects.none()

    @extend_schema(
        tags=TAGS,
        summary="Read a delivery with its attempts",
        responses=DeliveryDetailOutput,
        examples=[OpenApiExample("Delivery", value=DELIVERY_DETAIL_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, delivery_id: str) -> Response:
        return Response(DeliveryDetailOutput(delivery_get(actor=request.user, delivery_id=delivery_id)).data)


class DeliveryRetryApi(ApiView):
    queryset = Delivery.objects.none()

    @extend_schema(
        tags=TAGS,
        summary="Retry a delivery",
        description="Queues a failed or skipped delivery again (its attempt count is kept).",
        request=None,
        responses={
            202: OpenApiResponse(DeliveryOutput, description="Queued."),
            409: error_response(
                "DELIVERY_NOT_RETRYABLE: only a failed or skipped delivery can be retried.",
                error_example(
                    "Not retryable",
                    ErrorCode.DELIVERY_NOT_RETRYABLE,
                    "Only a failed or skipped delivery can be retried; this one is sent.",
                ),
            ),
        },
        examples=[
            OpenApiExample(
                "Queued", value={**DELIVERY_EXAMPLE, "status": "pending"}, response_only=True, status_codes=["202"]
            )
        ],
    )
    def post(self, request: Request, delivery_id: str) -> Response:
        delivery = delivery_retry(actor=request.user, delivery_id=delivery_id)
        return Response(DeliveryOutput(delivery).data, status=202)
