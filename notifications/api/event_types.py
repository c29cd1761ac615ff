"""event-types/: the registered event types with their payload JSON schema and an example payload."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import ApiView
from notifications.event_types import SESSION_STARTED
from notifications.selectors import event_type_get, event_type_list

TAGS = ["event-types"]


class EventTypeQuery(serializers.Serializer):
    search = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="Code or description contains."
    )


class EventTypeOutput(serializers.Serializer):
    event_type = serializers.CharField(source="code")
    description = serializers.CharField()
    json_schema = serializers.JSONField(source="schema", help_text="The JSON Schema (2020-12) of the payload.")
    example = serializers.JSONField(help_text="A payload that matches the schema.")


_EXAMPLES = [
    OpenApiExample(
        "session.started",
        value={
            "event_type": SESSION_STARTED.code,
            "description": SESSION_STARTED.description,
            "json_schema": SESSION_STARTED.schema,
            "example": SESSION_STARTED.example,
        },
        response_only=True,
    )
]


class EventTypeListApi(ApiView):
    filter_backends: list = []

    @extend_schema(
        tags=TAGS,
        summary="List event types",
        description="Sorted by code.",
        parameters=[EventTypeQuery],
        responses=EventTypeOutput(many=True),
        examples=_EXAMPLES,
    )
    def get(self, request: Request) -> Response:
        query = self.parse_query(EventTypeQuery)
        return self.list_response(event_type_list(actor=request.user, search=query.get("search", "")), EventTypeOutput)


class EventTypeDetailApi(ApiView):
    @extend_schema(tags=TAGS, summary="Read an event type", responses=EventTypeOutput, examples=_EXAMPLES)
    def get(self, request: Request, event_type: str) -> Response:
        return Response(EventTypeOutput(event_type_get(actor=request.user, code=event_type)).data)
