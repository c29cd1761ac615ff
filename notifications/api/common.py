"""Pieces several notification endpoints share."""

from __future__ import annotations

import django_filters
from rest_framework import serializers

from core.api import DateTimeFilter


class ActionErrorSerializer(serializers.Serializer):
    """Why a validate or test action did not succeed (an outcome, so it comes with HTTP 200)."""

    code = serializers.CharField(help_text="A stable code such as WEBHOOK_BAD_STATUS or SMTP_AUTH_FAILED.")
    message = serializers.CharField()


class CreatedRangeFilterSet(django_filters.FilterSet):
    created_after = DateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Created at or after (ISO 8601)."
    )
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt", help_text="Created before (ISO 8601).")
