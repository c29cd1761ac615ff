"""events/: emit an event (202, or 200 when its idempotency key was seen), list and read events."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import ApiView, CursorPagination, DateTimeFilter
from core.schema import StrictSerializer
from notifications.event_types import SESSION_STARTED
from notifications.models import Event
from notifications.selectors import event_get, event_list
from notifications.services import emit

TAGS = ["events"]


class EmitInput(StrictSerializer):
    event_type = serializers.CharField(max_length=128, help_text="A registered event type; see event-types/.")
    payload = serializers.DictField(
        help_text="Checked against the event type's JSON schema; unknown fields are refused."
    )
    idempotency_key = serializers.CharField(
        required=False,
        allow_null=True,
        max_length=255,
        help_text="Emitting the same key again returns the first event and sends nothing new.",
    )
    occurred_at = serializers.DateTimeField(required=False, allow_null=True, help_text="Defaults to now.")


class EventDeliveryOutput(serializers.Serializer):
    id = serializers.UUIDField()
    rule = serializers.UUIDField(source="rule_id", allow_null=True)
    channel = serializers.UUIDField(source="channel_id", allow_null=True)
    status = serializers.CharField()


class EventOutput(serializers.Serializer):
    id = serializers.UUIDField()
    event_type = serializers.CharField()
    payload = serializers.JSONField()
    idempotency_key = serializers.CharField(allow_null=True)
    occurred_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField()


class EventDetailOutput(EventOutput):
    deliveries = EventDeliveryOutput(source="deliveries.all", many=True, help_text="One per matching rule.")


class EventFilter(django_filters.FilterSet):
    received_after = DateTimeFilter(field_name="received_at", lookup_expr="gte")
    received_before = DateTimeFilter(field_name="received_at", lookup_expr="lt")
    occurred_after = DateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = DateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = Event
        fields = ["event_type", "idempotency_key"]


class EventCursorPagination(CursorPagination):
    ordering = "-received_at"


EMIT_EXAMPLE = {
    "event_type": SESSION_STARTED.code,
    "payload": SESSION_STARTED.example,
    "idempotency_key": "session-3f1c2b7e-started",
}
EVENT_OUTPUT_EXAMPLE = {
    "id": "e3b0c442-98fc-4c14-9afb-f4c8996fb924",
    "event_type": SESSION_STARTED.code,
    "payload": SESSION_STARTED.example,
    "idempotency_key": "session-3f1c2b7e-started",
    "occurred_at": "2026-01-13T09:30:00Z",
    "received_at": "2026-01-13T09:30:00.120000Z",
    "deliveries": [
        {
            "id": "9a7b6c5d-4e3f-4a1b-8c9d-0e1f2a3b4c5d",
            "rule": "4a8d2c1e-9b7f-4e3a-8c6d-5f4e3d2c1b0a",
            "channel": "0b9e6f7e-2d0c-4a53-9f34-6a1f0c2b7d11",
            "status": "pending",
        }
    ],
}


class EventListApi(ApiView):
    queryset = Event.objects.none()
    filterset_class = EventFilter
    ordering_fields = ["received_at", "occurred_at"]
    pagination_class = EventCursorPagination

    @extend_schema(
        tags=TAGS,
        summary="List events",
        description="Newest first by default.",
        responses=EventOutput,
        examples=[
            OpenApiExample(
                "Event",
                value={key: value for key, value in EVENT_OUTPUT_EXAMPLE.items() if key != "deliveries"},
                response_only=True,
            )
        ],
    )
    def get(self, request: Request) -> Response:
        return self.list_response(event_list(actor=request.user), EventOutput)

    @extend_schema(
        tags=TAGS,
        summary="Emit an event",
        description="Validates the payload, stores the event and one delivery per matching rule, and queues "
        "the deliveries. 202 for a new event; 200 with the first event when the idempotency key was seen.",
        request=EmitInput,
        responses={
            202: OpenApiResponse(EventDetailOutput, description="Accepted: the deliveries are queued."),
            200: OpenApiResponse(EventDetailOutput, description="Seen before: the first event, nothing new sent."),
        },
        examples=[
            OpenApiExample("Emit", value=EMIT_EXAMPLE, request_only=True),
            OpenApiExample("Accepted", value=EVENT_OUTPUT_EXAMPLE, response_only=True, status_codes=["202", "200"]),
        ],
    )
    def post(self, request: Request) -> Response:
        result = emit(actor=request.user, **self.parse(EmitInput))
        return Response(EventDetailOutput(result.event).data, status=202 if result.created else 200)


class EventDetailApi(ApiView):
    queryset = Event.objects.none()

    @extend_schema(
        tags=TAGS,
        summary="Read an event",
        responses=EventDetailOutput,
        examples=[OpenApiExample("Event", value=EVENT_OUTPUT_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, event_id: str) -> Response:
        event = event_get(actor=request.user, event_id=event_id)
        return Response(EventDetailOutput(event).data)
