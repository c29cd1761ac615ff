"""The REST API's request parser (DEFAULT_PARSER_CLASSES); a module of its own, since DRF imports it
while its views are being defined."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import exceptions, parsers

from core.schema import nested_deeper_than, reject_unstorable


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing documents nested more than API_MAX_JSON_DEPTH levels deep (which
    recursive code further on could not handle) with PARSE_ERROR rather than a server error, and
    text no database column can store (NUL, a `\\ud800` escape's unpaired surrogate) with
    VALIDATION_ERROR naming the field, whichever field it is."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = settings.API_MAX_JSON_DEPTH
        message = f"JSON parse error - the document is nested deeper than {limit} levels."
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(message) from None
        if nested_deeper_than(data, limit):
            raise exceptions.ParseError(message)
        reject_unstorable(data, field="")  # paths from the top: "payload.session_id"
        return data
